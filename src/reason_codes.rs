//! CONNACK codes: what each one means, and its likely causes ranked for the broker in front of us.
//!
//! The same number means different things on different brokers: Mosquitto answers every bad
//! password with 5 / 0x87 and never 4 / 0x86, while EMQX sends 0x86 for a bad JWT claim and 0x87
//! for a bad JWT signature, and Azure IoT Operations answers a rejected ServiceAccountToken with
//! either (Mosquitto's, EMQX's and HiveMQ's sources and Microsoft's Azure IoT Operations
//! documentation). The catalog is data, so that
//! `mqtt-doctor explain 134` works offline and the MQTT stage ranks its causes from the same table.

use std::fmt;
use std::str::FromStr;

use clap::ValueEnum;

/// The protocol a code belongs to: 3.1.1 return codes (0–5) and MQTT 5 reason codes overlap only
/// in 0 (success).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    V311,
    V5,
}

/// A broker whose behaviour the catalog knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Broker {
    Mosquitto,
    Emqx,
    /// Azure IoT Operations' MQTT broker.
    Aio,
    Hivemq,
}

impl Broker {
    pub fn name(self) -> &'static str {
        match self {
            Broker::Mosquitto => "Mosquitto",
            Broker::Emqx => "EMQX",
            Broker::Aio => "Azure IoT Operations",
            Broker::Hivemq => "HiveMQ",
        }
    }

    const ALL: [Broker; 4] = [Broker::Mosquitto, Broker::Emqx, Broker::Aio, Broker::Hivemq];
}

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
    /// Broker-specific causes, most likely first; they rank above the general ones.
    pub by_broker: &'static [(Broker, &'static [&'static str])],
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

    /// Causes ranked for `broker`: its own first, then the general ones. Without a broker, each
    /// broker's causes follow the general ones, labelled.
    pub fn ranked_causes(&self, broker: Option<Broker>) -> Vec<String> {
        let mut out = Vec::new();
        match broker {
            Some(broker) => {
                if let Some((_, causes)) = self.by_broker.iter().find(|(b, _)| *b == broker) {
                    out.extend(causes.iter().map(|c| c.to_string()));
                }
                out.extend(self.causes.iter().map(|c| c.to_string()));
            }
            None => {
                out.extend(self.causes.iter().map(|c| c.to_string()));
                for broker in Broker::ALL {
                    if let Some((_, causes)) = self.by_broker.iter().find(|(b, _)| *b == broker) {
                        out.extend(causes.iter().map(|c| format!("{}: {c}", broker.name())));
                    }
                }
            }
        }
        out
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

// 3.1.1's 4 and 5 and MQTT 5's 0x86 and 0x87 are the same refusals, so they share their causes.
const MOSQUITTO_NOT_AUTHORIZED: &[&str] = &[
    "wrong password or unknown user in the password file",
    "no username sent while `allow_anonymous false`",
    "the password file changed but the broker was not reloaded: `systemctl reload mosquitto` (or SIGHUP)",
    "a plaintext or unreadable password file (create it with `mosquitto_passwd`)",
    "the dynamic-security client is disabled or its file unreadable",
];
const EMQX_JWT_CLAIMS: &[&str] = &[
    "a JWT claim check failed: exp in the past, nbf in the future, a verify_claims mismatch (e.g. iss), a missing claim or a bad aud — run `mqtt-doctor token inspect` on the token",
    "the device clock was not set when it minted the JWT (iat/exp in 1970)",
];
const EMQX_JWT_REJECTED: &[&str] = &[
    "the JWT signature does not verify: wrong secret or key, `secret_base64_encoded` wrong, a JWKS without the token's kid",
    "the JWT is in the wrong field (the authenticator's `from` is password by default)",
];
const HIVEMQ_NOT_AUTHORIZED: &[&str] = &[
    "wrong credentials (file-rbac), or no security extension installed, which denies every client",
];

/// Every 3.1.1 return code and every MQTT 5 CONNACK reason code.
pub static CATALOG: &[ConnackCode] = &[
    ConnackCode {
        protocol: Protocol::V311,
        value: 0,
        name: "Connection Accepted",
        meaning: "The broker accepted the connection.",
        causes: &[],
        by_broker: &[],
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
        by_broker: &[(
            Broker::Mosquitto,
            &[
                "the broker is older than 1.6 and speaks no MQTT 5; Mosquitto 2 answers an unknown protocol level with a 3.1.1-format 1",
            ],
        )],
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
        by_broker: &[
            (Broker::Hivemq, &["'#' or '+' in the client id"]),
            (
                Broker::Emqx,
                &[
                    "the client id fails a `clientid` rule of the authenticator or a banned-client-id rule",
                ],
            ),
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
        by_broker: &[(
            Broker::Emqx,
            &[
                "EMQX maps server busy, quota, rate limit and 'use another server' to 3 on MQTT 3.1.1; connect with MQTT 5 to see which",
            ],
        )],
        counterpart: Some(0x88),
    },
    ConnackCode {
        protocol: Protocol::V311,
        value: 4,
        name: "Connection Refused, bad user name or password",
        meaning: "The broker rejected the user name or password as malformed or wrong.",
        causes: &["wrong or missing credentials"],
        by_broker: &[
            (
                Broker::Mosquitto,
                &[
                    "Mosquitto itself answers bad passwords with 5, never 4: an authentication plugin sent this",
                ],
            ),
            (Broker::Emqx, EMQX_JWT_CLAIMS),
            (
                Broker::Aio,
                &[
                    "the ServiceAccountToken was rejected: wrong audience (must be aio-internal), expired, or a service account the BrokerAuthentication does not allow",
                ],
            ),
            (
                Broker::Hivemq,
                &["the username or password is missing (file-rbac extension)"],
            ),
        ],
        counterpart: Some(0x86),
    },
    ConnackCode {
        protocol: Protocol::V311,
        value: 5,
        name: "Connection Refused, not authorized",
        meaning: "The broker does not let this client connect.",
        causes: &[
            "wrong credentials, or none given to a broker that requires them",
            "the client is banned (MQTT 5 says so with 0x8A; EMQX maps that to 5 on 3.1.1)",
        ],
        by_broker: &[
            (Broker::Mosquitto, MOSQUITTO_NOT_AUTHORIZED),
            (Broker::Emqx, EMQX_JWT_REJECTED),
            (
                Broker::Aio,
                &["the ServiceAccountToken was rejected (audience, expiry, service account)"],
            ),
            (Broker::Hivemq, HIVEMQ_NOT_AUTHORIZED),
        ],
        counterpart: Some(0x87),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x00,
        name: "Success",
        meaning: "The broker accepted the connection.",
        causes: &[],
        by_broker: &[],
        counterpart: Some(0),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x80,
        name: "Unspecified error",
        meaning: "The broker refused the connection without saying why.",
        causes: &["read the reason string and the broker's log"],
        by_broker: &[(
            Broker::Mosquitto,
            &[
                "an empty client id while `allow_zero_length_clientid false` (Mosquitto answers 0x80 where others answer 0x85)",
            ],
        )],
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
        by_broker: &[],
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
        by_broker: &[],
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
        by_broker: &[],
        counterpart: Some(1),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x84,
        name: "Unsupported Protocol Version",
        meaning: "The broker does not support the protocol version the client asked for.",
        causes: &["the broker (or this listener) speaks only 3.1.1: connect with MQTT 3.1.1"],
        by_broker: &[],
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
        by_broker: &[(Broker::Hivemq, &["'#' or '+' in the client id"])],
        counterpart: Some(2),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x86,
        name: "Bad User Name or Password",
        meaning: "The broker rejected the user name or password.",
        causes: &["wrong or missing credentials"],
        by_broker: &[
            (
                Broker::Mosquitto,
                &[
                    "Mosquitto itself answers bad passwords with 0x87, never 0x86: an authentication plugin sent this",
                ],
            ),
            (Broker::Emqx, EMQX_JWT_CLAIMS),
            (
                Broker::Aio,
                &[
                    "the ServiceAccountToken's audience is not one the BrokerAuthentication accepts (aio-internal by default)",
                    "the token expired: the client kept an old copy instead of re-reading the file, or the file is a subPath mount the kubelet never refreshes",
                    "the service account is not the one the broker's authorization expects",
                ],
            ),
            (
                Broker::Hivemq,
                &["the username or password is missing (file-rbac extension)"],
            ),
        ],
        counterpart: Some(4),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x87,
        name: "Not authorized",
        meaning: "The broker does not let this client connect.",
        causes: &["wrong credentials, or none given to a broker that requires them"],
        by_broker: &[
            (Broker::Mosquitto, MOSQUITTO_NOT_AUTHORIZED),
            (Broker::Emqx, EMQX_JWT_REJECTED),
            (
                Broker::Aio,
                &[
                    "the ServiceAccountToken was rejected (audience, expiry, service account); AIO does not document which code it sends",
                ],
            ),
            (Broker::Hivemq, HIVEMQ_NOT_AUTHORIZED),
        ],
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
        by_broker: &[],
        counterpart: Some(3),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x89,
        name: "Server busy",
        meaning: "The broker is too busy to accept the connection now.",
        causes: &["overload or a connection surge: retry with backoff and jitter"],
        by_broker: &[(
            Broker::Emqx,
            &["EMQX's overload protection is refusing new connections"],
        )],
        counterpart: Some(3),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x8A,
        name: "Banned",
        meaning: "An administrator has banned this client.",
        causes: &["the client id, username or address is on the broker's ban list"],
        by_broker: &[(
            Broker::Emqx,
            &[
                "an entry in EMQX's banned list (dashboard: Access Control → Blacklist), possibly added automatically by flapping detection",
            ],
        )],
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
        by_broker: &[
            (
                Broker::Mosquitto,
                &[
                    "Mosquitto without an auth plugin has no enhanced-auth methods: drop --auth-method and send a username and password",
                ],
            ),
            (
                Broker::Aio,
                &[
                    "the listener's BrokerAuthentication lacks the service-account-token method, or the method name is not exactly K8S-SAT",
                ],
            ),
        ],
        counterpart: Some(5),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x90,
        name: "Topic Name invalid",
        meaning: "The will topic is malformed or not accepted.",
        causes: &["a will topic with wildcards, or one the broker's rules forbid"],
        by_broker: &[],
        counterpart: Some(3),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x95,
        name: "Packet too large",
        meaning: "The CONNECT exceeds the broker's maximum packet size.",
        causes: &["a large will message, password or token against a small `max_packet_size`"],
        by_broker: &[],
        counterpart: Some(3),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x97,
        name: "Quota exceeded",
        meaning: "An administrative limit was reached.",
        causes: &["a limit on connections per user, tenant or licence"],
        by_broker: &[(
            Broker::Emqx,
            &["the licence's connection limit, or a per-listener max_connections"],
        )],
        counterpart: Some(3),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x99,
        name: "Payload format invalid",
        meaning: "The will payload does not match its payload format indicator.",
        causes: &["a will flagged as UTF-8 whose payload is not valid UTF-8"],
        by_broker: &[],
        counterpart: Some(3),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x9A,
        name: "Retain not supported",
        meaning: "The will is retained but the broker does not support retained messages.",
        causes: &["clear the will's retain flag"],
        by_broker: &[],
        counterpart: Some(3),
    },
    ConnackCode {
        protocol: Protocol::V5,
        value: 0x9B,
        name: "QoS not supported",
        meaning: "The will's QoS is above what the broker supports.",
        causes: &["lower the will QoS to the broker's Maximum QoS"],
        by_broker: &[],
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
        by_broker: &[],
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
        by_broker: &[],
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
        by_broker: &[],
        counterpart: Some(3),
    },
];

/// The page `mqtt-doctor explain CODE` prints.
pub fn page(code: &ConnackCode, broker: Option<Broker>) -> String {
    let mut out = format!("# {code}\n\n{}\n", code.meaning);
    if let Some(other) = code.counterpart {
        let (version, label) = match code.protocol {
            Protocol::V311 => ("MQTT 5", format!("0x{other:02X} ({other})")),
            Protocol::V5 => ("MQTT 3.1.1", other.to_string()),
        };
        out.push_str(&format!(
            "\nThe same refusal on {version} (as EMQX maps it): {label}.\n"
        ));
    }
    let causes = code.ranked_causes(broker);
    if !causes.is_empty() {
        match broker {
            Some(broker) => out.push_str(&format!("\n## Likely causes on {}\n\n", broker.name())),
            None => out.push_str("\n## Likely causes\n\n"),
        }
        for (n, cause) in causes.iter().enumerate() {
            out.push_str(&format!("{}. {cause}\n", n + 1));
        }
    }
    if broker.is_none() && !code.by_broker.is_empty() {
        out.push_str("\nName the broker for its own ranking: --broker mosquitto|emqx|aio|hivemq\n");
    }
    out
}

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
    fn the_broker_changes_the_ranking() {
        let code = find(query("5").unwrap()).unwrap();
        let mosquitto = code.ranked_causes(Some(Broker::Mosquitto));
        assert!(mosquitto[0].contains("password file"));
        assert!(
            mosquitto
                .iter()
                .any(|c| c.contains("systemctl reload mosquitto"))
        );
        let emqx = find(query("0x86").unwrap())
            .unwrap()
            .ranked_causes(Some(Broker::Emqx));
        assert!(emqx[0].contains("JWT claim"));
        let all = code.ranked_causes(None);
        assert!(all.iter().any(|c| c.starts_with("Mosquitto: ")));
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
