use triad_mpc_core::harness::run3;

#[test]
fn smoke() {
    let out = run3(None, |p| {
        let x = p.share_public_input(&[3, 5, u64::MAX, 1 << 63])?;
        let y = p.share_public_input(&[7, 11, u64::MAX, 2])?;
        let z = p.mul(&x, &y)?;
        let d = p.dot(&x, &y)?;
        let bx = p.share_public_bits(&[0xf0f0, u64::MAX], 128)?;
        let by = p.share_public_bits(&[0xff00, 0x1234], 128)?;
        let bz = p.and(&bx, &by)?;
        p.verify()?;
        let mut o = p.open(&z)?;
        o.extend(p.open(&d)?);
        o.extend(p.open_bits(&bz)?);
        Ok(o)
    });
    for r in out {
        let dot = 21u64.wrapping_add(55).wrapping_add(1).wrapping_add(0);
        assert_eq!(r.unwrap(), vec![21, 55, 1, 0, dot, 0xf000, 0x1234]);
    }
}
