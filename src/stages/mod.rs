//! One module per probe stage. Each exposes `run(&mut Context) -> StageOutput`, reads what
//! earlier stages left in the context, and reports findings; none of them prints.

pub(crate) mod auth;
pub(crate) mod cluster;
pub(crate) mod context;
pub(crate) mod dns;
pub(crate) mod k8s;
pub(crate) mod mqtt;
pub(crate) mod proxy;
pub(crate) mod tcp;
pub(crate) mod tls;
pub(crate) mod websocket;
