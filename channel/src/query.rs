//! Query strings of the callbacks gateways make (Kannel's delivery reports and incoming
//! SMS) and of the daemon's own: one parser for all, percent-decoding to bytes because an incoming UCS-2 text
//! arrives as its raw UTF-16 bytes.

use std::collections::HashMap;

/// The parameters of a query string (the part after `?`), values as bytes.
pub fn params(query: &str) -> HashMap<String, Vec<u8>> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                String::from_utf8_lossy(&decode(k.as_bytes())).into_owned(),
                decode(v.as_bytes()),
            )
        })
        .collect()
}

/// Percent-decoding of a query component, `+` as a space, to bytes.
fn decode(component: &[u8]) -> Vec<u8> {
    let spaced: Vec<u8> = component
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_encoding::percent_decode(&spaced).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_are_percent_decoded_to_bytes_and_plus_is_a_space() {
        let p = super::params("id=m-12-0&type=1&text=a+b%21&raw=%91M&flag");
        assert_eq!(p["id"], b"m-12-0");
        assert_eq!(p["text"], b"a b!");
        assert_eq!(p["raw"], [0x91, b'M']);
        assert_eq!(p["flag"], b"");
    }
}
