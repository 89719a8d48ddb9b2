//! CONNACK codes: what each one means on any broker, and its causes every broker shares.
//!
//! The same number means different things on different brokers (Mosquitto answers every bad
//! password with 5 / 0x87, EMQX a bad JWT claim with 0x86): each family's own causes live in its
//! module under [`crate::brokers`], and rank above the general ones here when the broker is
//! known. The catalog is data, so that `mqtt-doctor explain 134` works offline and the MQTT stage
//! ranks its causes from the same table.

use std::fmt;
use std::str::FromStr;

/// The protocol a code belongs to: 3.1.1 return codes (0–5) and MQTT 5 reason codes overlap only
/// in 0 (success).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    V311,
    V5,
}

pub use crate::broker_id::Broker;

/// One CONNACK code.
#[derive(Debug)]
pub struct ConnackCode {
    pub protocol: Protocol,
    pub value: u8,
    /// The specification's name for it.
    pub name: &'static str,
    pub meaning: &'static str,
    /// What any broker sending it most likely means, most likely first.
    pub causes: &'static [&'static str],
    /// The code the other protocol version uses for the same refusal (EMQX's mapping).
    pub counterpart: Option<u8>,
}

impl ConnackCode {
    /// `0x86 (134)` or `4`.
    pub fn label(&self) -> String {
        match self.protocol {
            Protocol::V311 => self.value.to_string(),
            Protocol::V5 => format!("0x{:02X} ({})", self.value, self.value),
        }
    }

    pub fn protocol_name(&self) -> &'static str {
        match self.protocol {
            Protocol::V311 => "MQTT 3.1.1 return code",
            Protocol::V5 => "MQTT 5 reason code",
        }
    }
}

/// A code as a user writes it: `134`, `0x86`, `connack:5`, `v5:0x87`, `v3:5`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeQuery {
    pub value: u8,
    /// Given explicitly; otherwise inferred (0–5 are 3.1.1 return codes, 0x80 and up MQTT 5).
    pub protocol: Option<Protocol>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodeQueryError {
    #[error("not a CONNACK code: write it as 134, 0x86, connack:5, v3:5 or v5:0x87")]
    NotACode,
    #[error("{0} is above 255, and CONNACK codes are one byte")]
    TooLarge(String),
}

impl FromStr for CodeQuery {
    type Err = CodeQueryError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.trim().to_ascii_lowercase();
        let (protocol, number) = match lower.split_once(':') {
            Some(("connack", rest)) => (None, rest),
            Some(("v3" | "v311" | "3.1.1", rest)) => (Some(Protocol::V311), rest),
            Some(("v5" | "5", rest)) => (Some(Protocol::V5), rest),
            Some(_) => return Err(CodeQueryError::NotACode),
            None => (None, lower.as_str()),
        };
        let parsed = match number.strip_prefix("0x") {
            Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                u64::from_str_radix(hex, 16).ok()
            }
            Some(_) => None,
            None if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) => {
                number.parse::<u64>().ok().or(Some(u64::MAX))
            }
            None => None,
        };
        let value = parsed.ok_or(CodeQueryError::NotACode)?;
        let value = u8::try_from(value).map_err(|_| CodeQueryError::TooLarge(text.to_string()))?;
        Ok(CodeQuery { value, protocol })
    }
}

/// Looks a code up. A bare 0 is the 3.1.1 and MQTT 5 success alike; a bare 1–5 is a 3.1.1
/// return code, since MQTT 5 has no refusal codes below 0x80.
pub fn find(query: CodeQuery) -> Option<&'static ConnackCode> {
    let protocol = query.protocol.unwrap_or(if query.value < 0x80 {
        Protocol::V311
    } else {
        Protocol::V5
    });
    CATALOG
        .iter()
        .find(|c| c.protocol == protocol && c.value == query.value)
}

impl fmt::Display for ConnackCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CONNACK {}, {}: {}",
            self.label(),
            self.protocol_name(),
            self.name
        )
    }
}

/// Every 3.1.1 return code and every MQTT 5 CONNACK reason code.
pub static CATALOG: &[ConnackCode] = &[
    ConnackCode {
        protocol: Protocol::V311,
        value: 0,
        name: "Connection Accepted",
        meaning: "The broker accepted the connection.",
        causes: &[],
        counterpart: Some(0x00),
    },
    ConnackCode {
        protocol: Protocol::V311,
        value: 1,
        name: "Connection Refused, unacceptable protocol version",
        meaning: "The broker does not speak the protocol level the client asked for.",
        causes: &[
            "an MQTT 5 client talking to a broker that only speaks 3.1.1 (or 3.1): connect with 3.1.1",
            "a 3.1 (MQIsdp) client talking to a broker that has dropped 3.1",
        ],
        counterpart: Some(0x84),
    },
    ConnackCode {
        protocol: Protocol::V311,
        value: 2,
        name: "Connection Refused, identifier rejected",
        meaning: "The broker does not accept the client identifier.",
        causes: &[
            "an empty client id with clean session off (3.1.1 allows an empty id only with clean session)",
            "characters or a length the broker does not allow in client ids",
        ],
        counterpart: Some(0x85),
    },
    ConnackCode {
        protocol: Protocol::V311,
        value: 3,
        name: "Connection Refused, server unavailable",
        meaning: "The network connection works but the MQTT service is unavailable.",
        causes: &[
            "the broker is starting, overloaded or shutting down: retry with backoff",
            "a load balancer accepted the connection while every backend is down",
        ],
        counterpart: Some(0x88),
    },
    ConnackCode {
        protocol: Protocol::V311,
        value: 4,
        name: "Connection Refused, bad user name or password",
        meaning: "The broker rejected the user name or password as malformed or wrong.",
        causes: &["wrong or missing credentials"],
        counterpart: Some(0x86),
    },
    ConnackCode {
        protocol: Protocol::V311,
        value: 5,
        name: "Connection Refused, not authorized",
        meaning: "The broker does not let this client connect.",
        causes: &[
            "wrong credentials, or none given to a broker that requires them",
            "the client is banned (MQTT 5 says so with 0x8A; some brokers map that to 5 on 3.1.1)",
        ],
        counterpart: Some(0x87),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x00,
        name: "Success",
        meaning: "The broker accepted the connection.",
        causes: &[],
        counterpart: Some(0),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x80,
        name: "Unspecified error",
        meaning: "The broker refused the connection without saying why.",
        causes: &["read the reason string and the broker's log"],
        counterpart: Some(1),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x81,
        name: "Malformed Packet",
        meaning: "The broker could not parse the CONNECT packet.",
        causes: &[
            "a client library bug, or a proxy that altered the bytes",
            "the port speaks another protocol variant than the client expects",
        ],
        counterpart: Some(1),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x82,
        name: "Protocol Error",
        meaning: "The CONNECT broke a rule of the protocol.",
        causes: &[
            "a property sent twice or in the wrong place, or authentication data without a method",
        ],
        counterpart: Some(1),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x83,
        name: "Implementation specific error",
        meaning: "The CONNECT is valid but the broker will not accept it.",
        causes: &[
            "a plugin, hook or extension refused the client: see the reason string and the broker's log",
        ],
        counterpart: Some(1),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x84,
        name: "Unsupported Protocol Version",
        meaning: "The broker does not support the protocol version the client asked for.",
        causes: &["the broker (or this listener) speaks only 3.1.1: connect with MQTT 3.1.1"],
        counterpart: Some(1),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x85,
        name: "Client Identifier not valid",
        meaning: "The client identifier is valid UTF-8 but the broker does not allow it.",
        causes: &[
            "an empty client id where the broker does not assign one",
            "characters or a length the broker does not allow",
        ],
        counterpart: Some(2),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x86,
        name: "Bad User Name or Password",
        meaning: "The broker rejected the user name or password.",
        causes: &["wrong or missing credentials"],
        counterpart: Some(4),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x87,
        name: "Not authorized",
        meaning: "The broker does not let this client connect.",
        causes: &["wrong credentials, or none given to a broker that requires them"],
        counterpart: Some(5),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x88,
        name: "Server unavailable",
        meaning: "The MQTT service is not available.",
        causes: &[
            "the broker is starting or shutting down, or a cluster node is not ready: retry with backoff",
            "a load balancer accepted the connection while every backend is down",
        ],
        counterpart: Some(3),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x89,
        name: "Server busy",
        meaning: "The broker is too busy to accept the connection now.",
        causes: &["overload or a connection surge: retry with backoff and jitter"],
        counterpart: Some(3),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x8A,
        name: "Banned",
        meaning: "An administrator has banned this client.",
        causes: &["the client id, username or address is on the broker's ban list"],
        counterpart: Some(5),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x8C,
        name: "Bad authentication method",
        meaning: "The broker does not support the authentication method the client named.",
        causes: &[
            "enhanced authentication (e.g. K8S-SAT) sent to a broker without that method",
            "a typo in the method name: it is compared exactly, e.g. `K8S-SAT`",
        ],
        counterpart: Some(5),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x90,
        name: "Topic Name invalid",
        meaning: "The will topic is malformed or not accepted.",
        causes: &["a will topic with wildcards, or one the broker's rules forbid"],
        counterpart: Some(3),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x95,
        name: "Packet too large",
        meaning: "The CONNECT exceeds the broker's maximum packet size.",
        causes: &["a large will message, password or token against a small `max_packet_size`"],
        counterpart: Some(3),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x97,
        name: "Quota exceeded",
        meaning: "An administrative limit was reached.",
        causes: &["a limit on connections per user, tenant or licence"],
        counterpart: Some(3),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x99,
        name: "Payload format invalid",
        meaning: "The will payload does not match its payload format indicator.",
        causes: &["a will flagged as UTF-8 whose payload is not valid UTF-8"],
        counterpart: Some(3),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x9A,
        name: "Retain not supported",
        meaning: "The will is retained but the broker does not support retained messages.",
        causes: &["clear the will's retain flag"],
        counterpart: Some(3),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x9B,
        name: "QoS not supported",
        meaning: "The will's QoS is above what the broker supports.",
        causes: &["lower the will QoS to the broker's Maximum QoS"],
        counterpart: Some(3),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x9C,
        name: "Use another server",
        meaning: "The client should temporarily use another server.",
        causes: &[
            "a cluster or load-balancing redirect: the Server Reference property names where to go",
        ],
        counterpart: Some(3),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x9D,
        name: "Server moved",
        meaning: "The client should permanently use another server.",
        causes: &[
            "the broker moved: the Server Reference property names its new address; update the client's configuration",
        ],
        counterpart: Some(3),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x9F,
        name: "Connection rate exceeded",
        meaning: "The client connects too often.",
        causes: &[
            "a reconnect loop without backoff, often from two devices sharing one client id and kicking each other off",
            "a per-listener connection rate limit",
        ],
        counterpart: Some(3),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> Result<CodeQuery, CodeQueryError> {
        text.parse()
    }

    #[test]
    fn codes_are_read_in_every_spelling() {
        assert_eq!(find(query("134").unwrap()).map(|c| c.value), Some(0x86));
        assert_eq!(find(query("0x86").unwrap()).map(|c| c.value), Some(0x86));
        assert_eq!(find(query("v5:0x87").unwrap()).map(|c| c.value), Some(0x87));
        assert_eq!(
            find(query("0X87").unwrap()).map(|c| c.name),
            Some("Not authorized")
        );
        let five = find(query("connack:5").unwrap()).unwrap();
        assert_eq!((five.protocol, five.value), (Protocol::V311, 5));
        assert_eq!(
            find(query("v3:5").unwrap()).unwrap().protocol,
            Protocol::V311
        );
        assert_eq!(query("tcp.refused"), Err(CodeQueryError::NotACode));
        assert_eq!(query("0x"), Err(CodeQueryError::NotACode));
        assert!(matches!(query("300"), Err(CodeQueryError::TooLarge(_))));
        assert!(matches!(
            query("99999999999999999999999"),
            Err(CodeQueryError::TooLarge(_))
        ));
        // 0x8B is not a CONNACK code (it is DISCONNECT's "server shutting down").
        assert!(find(query("0x8b").unwrap()).is_none());
    }

    #[test]
    fn the_catalog_is_complete_and_consistent() {
        for value in 0..=5 {
            assert!(
                find(CodeQuery {
                    value,
                    protocol: Some(Protocol::V311)
                })
                .is_some()
            );
        }
        for value in [
            0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90,
            0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
        ] {
            let code = find(CodeQuery {
                value,
                protocol: Some(Protocol::V5),
            })
            .unwrap_or_else(|| panic!("0x{value:02X} missing"));
            let back = code.counterpart.expect("every v5 code maps to 3.1.1");
            assert!(back <= 5);
        }
        for code in CATALOG.iter().filter(|c| c.protocol == Protocol::V311) {
            let there = code.counterpart.unwrap();
            let v5 = find(CodeQuery {
                value: there,
                protocol: Some(Protocol::V5),
            })
            .unwrap();
            assert_eq!(v5.counterpart, Some(code.value), "{code}");
        }
    }
}
