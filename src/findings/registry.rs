//! The registry of every finding id the doctor can emit.
//!
//! Each entry ties an id to its stage, default status, title and long-form page under
//! `docs/findings/<id>.md`. The page is compiled in with `include_str!`, so an id without a page
//! does not build, and `mqtt-doctor explain` works from a lone static binary. Ids are a public
//! contract (CI jobs match on them): never rename or reuse one; add a new id instead.
//! `tests/registry.rs` keeps the registry, the pages and the tests that emit each id in step.

use super::Status;
use crate::stage::Stage;

/// A registered finding id.
#[derive(Debug, PartialEq, Eq)]
pub struct FindingDef {
    pub id: &'static str,
    pub stage: Stage,
    /// The status a finding gets unless the stage says otherwise.
    pub status: Status,
    pub title: &'static str,
    /// The long-form page, Markdown.
    pub page: &'static str,
}

macro_rules! registry {
    ($( $(#[$doc:meta])* $konst:ident = $id:literal, $stage:ident, $status:ident, $title:literal; )*) => {
        $(
            $(#[$doc])*
            pub static $konst: FindingDef = FindingDef {
                id: $id,
                stage: Stage::$stage,
                status: Status::$status,
                title: $title,
                page: include_str!(concat!("../../docs/findings/", $id, ".md")),
            };
        )*

        /// Every registered finding, in pipeline order.
        pub static ALL: &[&FindingDef] = &[$(&$konst),*];
    };
}

registry! {
    /// The target's host is not the Service of any BrokerListener (or a short name from another
    /// namespace).
    K8S_SERVICE_MISMATCH = "k8s.service_mismatch", K8s, Fail, "Host is not the listener's Service";
    /// Which listener the target reaches cannot be told from the resources given.
    K8S_LISTENER_UNKNOWN = "k8s.listener_unknown", K8s, Info, "Listener not identified";
    /// The target's port is not one of the listener's ports, or speaks another protocol.
    K8S_PORT_MISMATCH = "k8s.port_mismatch", K8s, Fail, "Port is not on the listener";
    /// The scheme uses TLS and the port does not, or the other way round.
    K8S_TLS_MISMATCH = "k8s.tls_mismatch", K8s, Fail, "TLS mode does not match the port";
    /// The listener's certificate issuer against the CA the client trusts.
    K8S_TLS_TRUST = "k8s.tls_trust", K8s, Info, "Listener's issuer and the client's trust";
    /// A port names a BrokerAuthentication or BrokerAuthorization that does not exist.
    K8S_DANGLING_REF = "k8s.dangling_ref", K8s, Fail, "Reference to a missing resource";
    /// The token's audience is not one the BrokerAuthentication accepts.
    K8S_AUDIENCE_REJECTED = "k8s.audience_rejected", K8s, Fail, "Token audience not accepted";
    /// The client authenticates in a way the BrokerAuthentication has no method for.
    K8S_AUTH_METHOD_MISMATCH = "k8s.auth_method_mismatch", K8s, Fail, "Authentication method not accepted";
    /// No BrokerAuthorization rule lets this client connect.
    K8S_CONNECT_DENIED = "k8s.connect_denied", K8s, Fail, "Client may not connect";
    /// No BrokerAuthorization rule allows a --publish or --subscribe topic.
    K8S_TOPIC_DENIED = "k8s.topic_denied", K8s, Fail, "Topic not allowed";
    /// The client's settings match the listener, authentication and authorization.
    K8S_CONSISTENT = "k8s.consistent", K8s, Pass, "Settings match the cluster's resources";
    /// `--k8s-api`: the API server could not be asked (no token or CA, no connection, TLS, a
    /// timeout, an unexpected answer).
    K8S_API_UNAVAILABLE = "k8s.api_unavailable", K8s, Warn, "API server could not be asked";
    /// `--k8s-api`: the API server refused the pod's ServiceAccount token (401).
    K8S_API_UNAUTHORIZED = "k8s.api_unauthorized", K8s, Warn, "API server refused the token";
    /// `--k8s-api`: the ServiceAccount may not list some of the resources (403).
    K8S_API_FORBIDDEN = "k8s.api_forbidden", K8s, Warn, "ServiceAccount may not read the resources";
    /// `--k8s-api`: AIO's resource types are not served (404), or the namespace has no
    /// BrokerListener.
    K8S_AIO_NOT_FOUND = "k8s.aio_not_found", K8s, Warn, "Azure IoT Operations' resources not found";
    /// The name resolved to at least one address.
    DNS_RESOLVED = "dns.resolved", Dns, Pass, "Name resolved";
    /// The name only resolves with a search domain appended.
    DNS_SEARCH_LIST_ONLY = "dns.search_list_only", Dns, Info, "Name resolves only through the search list";
    /// The configured FQDN fails, but a shorter form resolves through the search list.
    DNS_FQDN_FAILS_SHORT_WORKS = "dns.fqdn_fails_short_works", Dns, Fail, "Full name fails, short name resolves";
    /// NXDOMAIN for every candidate name.
    DNS_NXDOMAIN = "dns.nxdomain", Dns, Fail, "Name does not exist (NXDOMAIN)";
    /// The name exists but has no A or AAAA record.
    DNS_NO_RECORDS = "dns.no_records", Dns, Fail, "Name has no address records";
    /// The name server answered with an error code.
    DNS_SERVFAIL = "dns.servfail", Dns, Fail, "Name server failed (SERVFAIL)";
    /// The name server did not answer in time.
    DNS_TIMEOUT = "dns.timeout", Dns, Fail, "No answer from the name server";
    /// No name server is configured.
    DNS_NO_RESOLVER = "dns.no_resolver", Dns, Fail, "No name server configured";
    /// DNS and the system resolver (getaddrinfo) give different answers.
    DNS_SYSTEM_RESOLVER_DIFFERS = "dns.system_resolver_differs", Dns, Warn, "System resolver and DNS disagree";
    /// A TCP connection was established.
    TCP_CONNECTED = "tcp.connected", Tcp, Pass, "TCP connection established";
    /// The port actively refused the connection.
    TCP_REFUSED = "tcp.refused", Tcp, Fail, "Connection refused";
    /// No answer to the connection attempt in time.
    TCP_TIMEOUT = "tcp.timeout", Tcp, Fail, "Connection attempt timed out";
    /// No route to the address.
    TCP_UNREACHABLE = "tcp.unreachable", Tcp, Fail, "Network or host unreachable";
    /// The connection was accepted and then reset or closed at once.
    TCP_RESET = "tcp.reset", Tcp, Fail, "Connection closed right after connecting";
    /// Some addresses connect and others do not.
    TCP_PARTIAL = "tcp.partial", Tcp, Warn, "Some addresses do not connect";
    /// A CONNECT behind a PROXY protocol header got the CONNACK the plain one did not.
    TCP_PROXY_PROTOCOL_EXPECTED = "tcp.proxy_protocol_expected", Tcp, Fail, "Listener expects the PROXY protocol";
    /// The proxy opened a tunnel to the broker.
    PROXY_CONNECTED = "proxy.connected", Proxy, Pass, "Proxy tunnel open";
    /// The proxy refused to open the tunnel (policy, method, or it closed on us).
    PROXY_REFUSED = "proxy.refused", Proxy, Fail, "Proxy refused the tunnel";
    /// The proxy wants credentials, or rejected the ones given.
    PROXY_AUTH_REQUIRED = "proxy.auth_required", Proxy, Fail, "Proxy wants credentials";
    /// The proxy could not reach the broker (as the proxy sees it).
    PROXY_TARGET_UNREACHABLE = "proxy.target_unreachable", Proxy, Fail, "Proxy cannot reach the broker";
    /// The proxy accepted the connection but did not answer the tunnel request in time.
    PROXY_TIMEOUT = "proxy.timeout", Proxy, Fail, "No answer from the proxy";
    /// The proxy speaks another proxy protocol than the URL says (SOCKS vs HTTP).
    PROXY_WRONG_KIND = "proxy.wrong_kind", Proxy, Fail, "Proxy speaks another protocol";
    /// The TLS handshake succeeded and the certificate checks out.
    TLS_OK = "tls.ok", Tls, Pass, "TLS handshake succeeded";
    /// The system has no CA certificates; the built-in roots stand in.
    TLS_BUILTIN_ROOTS = "tls.builtin_roots", Tls, Info, "Using the built-in root certificates";
    /// `--insecure`: the server certificate was not verified.
    TLS_INSECURE = "tls.insecure", Tls, Warn, "Certificate verification turned off";
    /// The server certificate has expired.
    TLS_EXPIRED = "tls.expired", Tls, Fail, "Server certificate expired";
    /// The server certificate is not valid yet.
    TLS_NOT_YET_VALID = "tls.not_yet_valid", Tls, Fail, "Server certificate not yet valid";
    /// The server certificate expires within the warning threshold.
    TLS_EXPIRING_SOON = "tls.expiring_soon", Tls, Warn, "Server certificate expires soon";
    /// The server certificate's issuer is not trusted.
    TLS_UNKNOWN_ISSUER = "tls.unknown_issuer", Tls, Fail, "Server certificate issuer not trusted";
    /// The server sent its certificate without the intermediate that issued it.
    TLS_INCOMPLETE_CHAIN = "tls.incomplete_chain", Tls, Fail, "Server sent an incomplete chain";
    /// The server certificate does not name the host or IP used.
    TLS_NAME_MISMATCH = "tls.name_mismatch", Tls, Fail, "Server certificate does not match the name";
    /// The server certificate is not for TLS servers.
    TLS_BAD_PURPOSE = "tls.bad_purpose", Tls, Fail, "Server certificate not issued for servers";
    /// TLS was attempted on a plain MQTT port.
    TLS_NOT_TLS = "tls.not_tls", Tls, Fail, "Port speaks plain MQTT, not TLS";
    /// The handshake failed for another reason (versions, ciphers, garbage).
    TLS_HANDSHAKE_FAILED = "tls.handshake_failed", Tls, Fail, "TLS handshake failed";
    /// The CA file or directory cannot be used.
    TLS_CA_FILE_INVALID = "tls.ca_file_invalid", Tls, Fail, "CA file unusable";
    /// The client certificate or key file cannot be used.
    TLS_CLIENT_CERT_INVALID = "tls.client_cert_invalid", Tls, Fail, "Client certificate or key unusable";
    /// The client key does not match the client certificate.
    TLS_CLIENT_KEY_MISMATCH = "tls.client_key_mismatch", Tls, Fail, "Client key does not match the certificate";
    /// The client certificate is expired or not yet valid.
    TLS_CLIENT_CERT_EXPIRED = "tls.client_cert_expired", Tls, Fail, "Client certificate outside its validity";
    /// The client certificate lacks the clientAuth extended key usage.
    TLS_CLIENT_CERT_BAD_PURPOSE = "tls.client_cert_bad_purpose", Tls, Fail, "Client certificate not issued for clients";
    /// The broker demands a client certificate and none was given.
    TLS_CLIENT_CERT_REQUIRED = "tls.client_cert_required", Tls, Fail, "Client certificate required";
    /// The broker rejected the client certificate.
    TLS_CLIENT_CERT_REJECTED = "tls.client_cert_rejected", Tls, Fail, "Client certificate rejected";
    /// The broker's certificate revocation list revokes the client certificate.
    TLS_CLIENT_CERT_REVOKED = "tls.client_cert_revoked", Tls, Fail, "Client certificate revoked";
    /// `--save-chain`: the presented chain was written, or could not be.
    TLS_CHAIN_SAVED = "tls.chain_saved", Tls, Info, "Certificate chain saved";
    /// The server certificate is a CA certificate given with `--cafile`: OpenSSL accepts it,
    /// strict verifiers refuse it.
    TLS_CA_AS_SERVER_CERTIFICATE = "tls.ca_as_server_certificate", Tls, Warn, "Server certificate is a CA certificate";
    /// A plain CONNECT was reset or closed, and the port answers a TLS ClientHello.
    TLS_PLAIN_TO_TLS_PORT = "tls.plain_to_tls_port", Tls, Fail, "Plain MQTT sent to a TLS port";
    /// TLS to an IP address without --servername: no SNI, which SNI-routing brokers need; a
    /// warning for a broker known to route by SNI, a failure when the handshake was dropped.
    TLS_NO_SNI = "tls.no_sni", Tls, Warn, "No SNI sent";
    /// The WebSocket upgrade succeeded with the `mqtt` subprotocol.
    WS_UPGRADED = "ws.upgraded", Websocket, Pass, "WebSocket upgraded";
    /// The upgrade was answered 404: no WebSocket endpoint at this path.
    WS_BAD_PATH = "ws.bad_path", Websocket, Fail, "No WebSocket endpoint at this path";
    /// The upgrade was answered 401 or 403.
    WS_FORBIDDEN = "ws.forbidden", Websocket, Fail, "WebSocket upgrade not allowed";
    /// The server upgraded without accepting the `mqtt` subprotocol.
    WS_NO_SUBPROTOCOL = "ws.no_subprotocol", Websocket, Fail, "Server did not accept the mqtt subprotocol";
    /// The port speaks plain MQTT, not WebSocket.
    WS_NOT_WEBSOCKET = "ws.not_websocket", Websocket, Fail, "Port speaks plain MQTT, not WebSocket";
    /// Any other answer to the upgrade: an HTTP error, a redirect, a web page, or none.
    WS_HTTP_ERROR = "ws.http_error", Websocket, Fail, "WebSocket upgrade failed";
    /// The WebSocket server sent ping after ping instead of MQTT.
    WS_PING_FLOOD = "ws.ping_flood", Websocket, Fail, "WebSocket server floods pings";
    /// The doctor runs in a pod: namespace, ServiceAccount and the tokens it has mounted.
    POD_DETECTED = "pod.detected", Auth, Info, "Running in a Kubernetes pod";
    /// The preset's token file is missing; a projected token with the right audience is used.
    POD_TOKEN_ELSEWHERE = "pod.token_elsewhere", Auth, Warn, "Token found under another name";
    /// What the client will authenticate with (lengths and fingerprints, never the secrets).
    AUTH_CREDENTIALS = "auth.credentials", Auth, Pass, "Credentials to send";
    /// A password without a username, which MQTT 3.1.1 forbids.
    AUTH_PASSWORD_WITHOUT_USERNAME = "auth.password_without_username", Auth, Warn, "Password without a username";
    /// The password file is missing, unreadable or empty.
    AUTH_PASSWORD_FILE_INVALID = "auth.password_file_invalid", Auth, Fail, "Password file unusable";
    /// The token file does not exist.
    TOKEN_MISSING = "token.missing", Auth, Fail, "Token file missing";
    /// The token file exists but cannot be read.
    TOKEN_UNREADABLE = "token.unreadable", Auth, Fail, "Token file unreadable";
    /// The token file is empty.
    TOKEN_EMPTY = "token.empty", Auth, Fail, "Token file empty";
    /// Whitespace (usually a trailing newline) around the token.
    TOKEN_WHITESPACE = "token.whitespace", Auth, Warn, "Whitespace around the token";
    /// The token is not a decodable JWT, or a claim has the wrong type.
    TOKEN_MALFORMED = "token.malformed", Auth, Fail, "Token is not a well-formed JWT";
    /// The decoded token, shown instead of `token.ok` when a check on it failed or warned.
    TOKEN_DECODED = "token.decoded", Auth, Info, "Token contents";
    /// The token decodes and every check on it holds.
    TOKEN_OK = "token.ok", Auth, Pass, "Token valid";
    /// `exp` is in the past.
    TOKEN_EXPIRED = "token.expired", Auth, Fail, "Token expired";
    /// `nbf` is in the future.
    TOKEN_NOT_YET_VALID = "token.not_yet_valid", Auth, Fail, "Token not yet valid";
    /// `exp` is near, or a projected token is past the kubelet's refresh point.
    TOKEN_EXPIRING_SOON = "token.expiring_soon", Auth, Warn, "Token expires soon";
    /// `iat` is in the future, or before any clock was set.
    TOKEN_CLOCK_SKEW = "token.clock_skew", Auth, Warn, "Token minted by a wrong clock";
    /// `aud` does not contain the audience the broker expects.
    TOKEN_AUDIENCE_MISMATCH = "token.audience_mismatch", Auth, Fail, "Token minted for another audience";
    /// `iss` is not the issuer the broker expects.
    TOKEN_ISSUER_MISMATCH = "token.issuer_mismatch", Auth, Fail, "Token from another issuer";
    /// `alg: none`: the token is unsigned.
    TOKEN_ALG_NONE = "token.alg_none", Auth, Fail, "Token is unsigned (alg none)";
    /// The signature verifies with the given key.
    TOKEN_SIGNATURE_OK = "token.signature_ok", Auth, Pass, "Signature verifies";
    /// The signature does not verify, or no given key fits the token.
    TOKEN_SIGNATURE_INVALID = "token.signature_invalid", Auth, Fail, "Signature does not verify";
    /// The signature's algorithm cannot be checked here.
    TOKEN_SIGNATURE_UNCHECKED = "token.signature_unchecked", Auth, Info, "Signature not checked";
    /// The key, JWKS or secret given for the signature check cannot be used.
    TOKEN_KEY_INVALID = "token.key_invalid", Auth, Fail, "Verification key unusable";
    /// The user chose the client id, so a device using it would be disconnected.
    MQTT_CLIENT_ID_GIVEN = "mqtt.client_id_given", Mqtt, Warn, "Connecting with a chosen client id";
    /// The broker only speaks MQTT 3.1.1; the doctor retried with it.
    MQTT_V311_ONLY = "mqtt.v311_only", Mqtt, Info, "Broker speaks only MQTT 3.1.1";
    /// The CONNACK waited for the client's delayed ACK: the broker does not set TCP_NODELAY.
    MQTT_NAGLE_DELAY = "mqtt.nagle_delay", Mqtt, Warn, "Broker answers held by Nagle's algorithm";
    /// CONNACK 0: connected.
    MQTT_CONNECTED = "mqtt.connected", Mqtt, Pass, "Connected";
    /// 3.1.1 code 4, MQTT 5 0x86.
    MQTT_BAD_CREDENTIALS = "mqtt.bad_credentials", Mqtt, Fail, "Bad username or password";
    /// 3.1.1 code 5, MQTT 5 0x87.
    MQTT_NOT_AUTHORIZED = "mqtt.not_authorized", Mqtt, Fail, "Not authorized";
    /// MQTT 5 0x8C.
    MQTT_BAD_AUTH_METHOD = "mqtt.bad_auth_method", Mqtt, Fail, "Authentication method not supported";
    /// 3.1.1 code 2, MQTT 5 0x85.
    MQTT_CLIENT_ID_REJECTED = "mqtt.client_id_rejected", Mqtt, Fail, "Client id rejected";
    /// 3.1.1 code 1, MQTT 5 0x84.
    MQTT_PROTOCOL_UNSUPPORTED = "mqtt.protocol_unsupported", Mqtt, Fail, "Protocol version not supported";
    /// 3.1.1 code 3, MQTT 5 0x88 and 0x89.
    MQTT_SERVER_UNAVAILABLE = "mqtt.server_unavailable", Mqtt, Fail, "Server unavailable or busy";
    /// MQTT 5 0x8A.
    MQTT_BANNED = "mqtt.banned", Mqtt, Fail, "Client banned";
    /// MQTT 5 0x97.
    MQTT_QUOTA_EXCEEDED = "mqtt.quota_exceeded", Mqtt, Fail, "Quota exceeded";
    /// MQTT 5 0x9F.
    MQTT_RATE_LIMITED = "mqtt.rate_limited", Mqtt, Fail, "Connection rate exceeded";
    /// MQTT 5 0x9C and 0x9D.
    MQTT_REDIRECT = "mqtt.redirect", Mqtt, Fail, "Broker redirects to another server";
    /// Any other CONNACK code, including codes the protocol does not define.
    MQTT_CONNACK_OTHER = "mqtt.connack_other", Mqtt, Fail, "Connection refused";
    /// The connection closed or stayed silent after CONNECT.
    MQTT_NO_CONNACK = "mqtt.no_connack", Mqtt, Fail, "No CONNACK";
    /// The CONNECT was closed while a connection on which nothing was sent stayed open.
    MQTT_CONNECT_REJECTED = "mqtt.connect_rejected", Mqtt, Fail, "Connection closed on the CONNECT";
    /// What came back is not MQTT: HTTP, a TLS record, garbage.
    MQTT_NOT_MQTT = "mqtt.not_mqtt", Mqtt, Fail, "Port does not speak MQTT";
    /// The broker sent DISCONNECT while the connection was held.
    MQTT_DISCONNECTED = "mqtt.disconnected", Mqtt, Fail, "Broker disconnected the client";
    /// Every topic check passed.
    ACL_OK = "acl.ok", Mqtt, Pass, "Topic checks passed";
    /// SUBACK refused a filter.
    ACL_SUBSCRIBE_DENIED = "acl.subscribe_denied", Mqtt, Fail, "Subscription denied";
    /// PUBACK refused a publish (MQTT 5).
    ACL_PUBLISH_DENIED = "acl.publish_denied", Mqtt, Fail, "Publish denied";
    /// A publish was acknowledged, but no subscription of the run could show it delivered.
    ACL_DELIVERY_UNVERIFIED = "acl.delivery_unverified", Mqtt, Info, "Delivery not checked";
    /// A published message did not come back through a matching subscription.
    ACL_ROUNDTRIP_FAILED = "acl.roundtrip_failed", Mqtt, Fail, "Message did not come back";
    /// The connection stayed up for the hold and answered a PINGREQ.
    SESSION_OK = "session.ok", Mqtt, Pass, "Connection held";
    /// DISCONNECT 0x8E: another client took the session over.
    SESSION_TAKEOVER = "session.takeover", Mqtt, Fail, "Session taken over";
    /// The connection closed without a DISCONNECT.
    SESSION_DROPPED = "session.dropped", Mqtt, Fail, "Connection dropped";
    /// The connection died after a silence shorter than the keepalive let it be.
    SESSION_IDLE_TIMEOUT = "session.idle_timeout", Mqtt, Fail, "Idle connection closed";
    /// Several nodes were checked and they answered alike.
    CLUSTER_CONSISTENT = "cluster.consistent", Cluster, Pass, "Nodes answer alike";
    /// Some nodes pass and others fail: a share of connections fails.
    CLUSTER_NODES_FAIL = "cluster.nodes_fail", Cluster, Fail, "Some nodes fail";
    /// The nodes present different server certificates.
    CLUSTER_CERTIFICATES_DIFFER = "cluster.certificates_differ", Cluster, Warn, "Nodes present different certificates";
    /// The nodes announce different CONNACK capabilities, protocol or broker.
    CLUSTER_CAPABILITIES_DIFFER = "cluster.capabilities_differ", Cluster, Warn, "Nodes announce different capabilities";
    /// One node is much slower than the others at some step.
    CLUSTER_SLOW_NODE = "cluster.slow_node", Cluster, Info, "One node is much slower";
    /// The name resolved to more addresses than `--nodes` allows checking.
    CLUSTER_NODES_CAPPED = "cluster.nodes_capped", Cluster, Info, "Not every address was checked";
}

/// Looks an id up.
pub fn find(id: &str) -> Option<&'static FindingDef> {
    ALL.iter().copied().find(|def| def.id == id)
}
