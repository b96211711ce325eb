//! The in-memory transport: three meshes in one process, linked by channels.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::mesh::{Budget, Carrier, Link, Tasks};
use crate::stats::LinkCounters;
use crate::{Mesh, NetConfig, PartyId};

impl Mesh {
    /// Three meshes (index = party id) connected in memory, with the same ordering, framing
    /// limit, back-pressure ([`NetConfig::send_buffer_bytes`] per direction), timeouts and
    /// counters as TCP. Needs a tokio runtime with the time driver to receive.
    pub fn in_memory(config: &NetConfig) -> [Mesh; 3] {
        let mut links: [[Option<Link>; 3]; 3] = Default::default();
        for from in PartyId::ALL {
            for to in PartyId::ALL {
                if from >= to {
                    continue;
                }
                let (tx_ft, rx_ft) = mpsc::unbounded_channel();
                let (tx_tf, rx_tf) = mpsc::unbounded_channel();
                let budget_ft = Budget::new(config.send_buffer_bytes);
                let budget_tf = Budget::new(config.send_buffer_bytes);
                links[from.index()][to.index()] =
                    Some(Link::new(to, (tx_ft, budget_ft), rx_tf, Arc::new(LinkCounters::default()), Carrier::Memory));
                links[to.index()][from.index()] = Some(Link::new(
                    from,
                    (tx_tf, budget_tf),
                    rx_ft,
                    Arc::new(LinkCounters::default()),
                    Carrier::Memory,
                ));
            }
        }
        let [l0, l1, l2] = links;
        [
            Mesh::from_links(PartyId::ALL[0], l0, config, Tasks::default()),
            Mesh::from_links(PartyId::ALL[1], l1, config, Tasks::default()),
            Mesh::from_links(PartyId::ALL[2], l2, config, Tasks::default()),
        ]
    }
}
