//! What sits between the client and the broker: a real HAProxy (Debian's package) in front of a
//! real Mosquitto, configured the ways that break connections in the field: a listener that
//! expects the PROXY protocol reached without it, a `send-proxy` backend that does not expect
//! it, a broker at its connection limit.

mod common;

use common::servers::Haproxy;
use common::{Mosquitto, StageExt, doctor_json};

#[test]
fn healthy_run_through_haproxy_passes() {
    let broker = Mosquitto::start("");
    let haproxy = Haproxy::start(&format!(
        "frontend mqtt\n  bind 127.0.0.1:{{port}}\n  default_backend broker\n\
         backend broker\n  server m 127.0.0.1:{}\n",
        broker.port
    ));
    let (report, code) = doctor_json(&[&format!("mqtt://127.0.0.1:{}", haproxy.port)]);
    assert_eq!(code, 0, "{report:#?}");
    assert_eq!(report.stage_status("mqtt"), "pass");
    // One connection, the doctor's own: no follow-up probe on a healthy run.
    let connections = haproxy
        .log()
        .lines()
        .filter(|l| l.contains(" mqtt broker/m "))
        .count();
    assert_eq!(connections, 1, "{}", haproxy.log());
}
