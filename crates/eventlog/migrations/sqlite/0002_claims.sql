-- Keys claimed for good by appends (`Append::claims`): uniqueness guards without events.
CREATE TABLE claims (
    key TEXT PRIMARY KEY
);
