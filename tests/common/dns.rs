//! A real DNS server on loopback for the tests: UDP, one thread, answers from a small zone
//! table. Messages are parsed and built with hickory-proto, so what goes over the wire is
//! ordinary DNS that any resolver understands.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{RData, Record, RecordType};
use mqtt_doctor::report::Report;

/// How the server answers for one name.
#[derive(Clone, Debug)]
pub enum Answer {
    /// NOERROR with these addresses (A for IPv4, AAAA for IPv6; the other type gets NODATA).
    Addresses(Vec<IpAddr>),
    /// NOERROR with an empty answer: the name exists, with no address.
    NoData,
    /// SERVFAIL.
    ServFail,
}

/// Names not in the zone get NXDOMAIN.
pub struct DnsServer {
    pub addr: SocketAddr,
    queries: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl DnsServer {
    /// Serves `zone` on an ephemeral UDP port of 127.0.0.1.
    pub fn start(zone: &[(&str, Answer)]) -> DnsServer {
        Self::start_on((Ipv4Addr::LOCALHOST, 0).into(), zone).expect("bind the test DNS server")
    }

    pub fn start_on(bind: SocketAddr, zone: &[(&str, Answer)]) -> std::io::Result<DnsServer> {
        let socket = UdpSocket::bind(bind)?;
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        let addr = socket.local_addr()?;
        let zone: HashMap<String, Answer> = zone
            .iter()
            .map(|(name, answer)| {
                (
                    format!("{}.", name.trim_end_matches('.').to_lowercase()),
                    answer.clone(),
                )
            })
            .collect();
        let queries = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, flag) = (queries.clone(), stop.clone());
        thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !flag.load(Ordering::Relaxed) {
                let Ok((len, peer)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(request) = Message::from_vec(&buf[..len]) else {
                    continue;
                };
                if let Some(reply) = respond(&zone, &request, &log) {
                    let _ = socket.send_to(&reply, peer);
                }
            }
        });
        Ok(DnsServer {
            addr,
            queries,
            stop,
        })
    }

    /// Runs `doctor <target> --format json` against this server, with well-known files read
    /// below `root` (so the machine's own resolver is never consulted), plus `extra` options.
    pub fn doctor(&self, target: &str, root: &Path, extra: &[&str]) -> (Report, i32) {
        let server = self.addr.to_string();
        let root = root.display().to_string();
        let mut args = vec![target, "--dns-server", &server, "--root", &root];
        args.extend_from_slice(extra);
        super::doctor_json(&args)
    }

    /// The names asked for so far, with their record type, e.g. `broker.test. A`.
    pub fn queries(&self) -> Vec<String> {
        self.queries.lock().unwrap().clone()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn respond(
    zone: &HashMap<String, Answer>,
    request: &Message,
    log: &Mutex<Vec<String>>,
) -> Option<Vec<u8>> {
    let query = request.queries.first()?;
    let name = query.name().to_lowercase().to_string();
    let rtype = query.query_type();
    log.lock().unwrap().push(format!("{name} {rtype}"));

    let mut reply = Message::response(request.metadata.id, request.metadata.op_code);
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_query(query.clone());
    match zone.get(&name) {
        None => reply.metadata.response_code = ResponseCode::NXDomain,
        Some(Answer::ServFail) => reply.metadata.response_code = ResponseCode::ServFail,
        Some(Answer::NoData) => {}
        Some(Answer::Addresses(ips)) => {
            for ip in ips {
                let rdata = match (ip, rtype) {
                    (IpAddr::V4(v4), RecordType::A) => RData::A(A(*v4)),
                    (IpAddr::V6(v6), RecordType::AAAA) => RData::AAAA(AAAA(*v6)),
                    _ => continue,
                };
                reply.add_answer(Record::from_rdata(query.name().clone(), 30, rdata));
            }
        }
    }
    reply.to_vec().ok()
}

/// A UDP socket that takes queries and never answers: a name server that is down or filtered.
pub struct SilentDns {
    pub addr: SocketAddr,
    _socket: UdpSocket,
}

impl SilentDns {
    pub fn start() -> SilentDns {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        SilentDns {
            addr: socket.local_addr().unwrap(),
            _socket: socket,
        }
    }
}

pub fn v4(text: &str) -> IpAddr {
    text.parse::<Ipv4Addr>().unwrap().into()
}

pub fn v6(text: &str) -> IpAddr {
    text.parse::<Ipv6Addr>().unwrap().into()
}
