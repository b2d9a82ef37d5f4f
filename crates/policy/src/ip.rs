//! IPv4 and IPv6 CIDR blocks for `IpAddress` / `NotIpAddress`, parsed once.

use std::net::IpAddr;

/// An address block: `203.0.113.0/24`, `2001:db8::/32`, or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d[/n]` or `v6[/n]`; host bits past the prefix are ignored, as AWS does.
    pub(crate) fn parse(text: &str) -> Option<Cidr> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => {
                if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                (addr, Some(prefix.parse::<u8>().ok()?))
            }
            None => (text, None),
        };
        let network = addr.parse::<IpAddr>().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { network, prefix })
    }

    /// Whether `addr` lies in the block (an IPv4-mapped IPv6 address counts as IPv4).
    pub(crate) fn contains(&self, addr: IpAddr) -> bool {
        match (self.network, normalize(addr)) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }

    /// The prefix length.
    pub(crate) fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether it is an IPv4 block.
    pub(crate) fn is_ipv4(&self) -> bool {
        self.network.is_ipv4()
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) as the IPv4 address it carries.
pub(crate) fn normalize(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks() {
        let check = |cidr: &str, addr: &str, expected: bool| {
            let block = Cidr::parse(cidr).unwrap_or_else(|| panic!("{cidr}"));
            assert_eq!(block.contains(addr.parse().unwrap()), expected, "{cidr} {addr}");
        };
        check("203.0.113.0/24", "203.0.113.7", true);
        check("203.0.113.0/24", "203.0.114.7", false);
        check("203.0.113.9/24", "203.0.113.200", true);
        check("203.0.113.5", "203.0.113.5", true);
        check("203.0.113.5", "203.0.113.6", false);
        check("203.0.113.5/32", "203.0.113.5", true);
        check("0.0.0.0/0", "198.51.100.1", true);
        check("0.0.0.0/0", "2001:db8::1", false);
        check("2001:db8::/32", "2001:db8:1::5", true);
        check("2001:db8::/32", "2001:db9::5", false);
        check("::/0", "2001:db8::1", true);
        check("10.0.0.0/8", "::ffff:10.1.2.3", true);
        check("::ffff:10.0.0.0/104", "10.1.2.3", false);
    }

    #[test]
    fn refused() {
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0/8",
            "2001:db8::/129",
            "x",
            "10.0.0.0/-1",
            "10.0.0.0/ 8",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }
}
