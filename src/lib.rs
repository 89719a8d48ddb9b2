//! mqtt-doctor: tells in one run why a client cannot connect to an MQTT broker, and what to do.
//!
//! The layout follows the architecture: [`cli`] parses and dispatches; [`pipeline`] runs the
//! stages in [`stages`] (one module each) against a validated [`config::DoctorConfig`], over
//! connections that `transport` opens; every observation is a [`findings::Finding`] under an
//! id from the one [`findings::registry`], filed under a [`stage::Stage`]; the [`report`]
//! module turns the outcome into text, JSON or JUnit; [`watch`] runs the pipeline again and
//! again with statistics of bounded size. Probes never print; renderers never probe.
//! No module imports one that imports it back: the pipeline sits above the stages, the stages
//! above their shared context and the transport.

pub mod broker_id;
pub mod brokers;
mod budget;
pub mod certs;
pub mod cli;
pub mod config;
pub mod config_file;
pub mod durations;
pub mod files;
pub mod findings;
#[doc(hidden)]
pub mod fuzzing;
pub mod jwt;
pub mod k8s;
pub mod k8s_api;
pub mod limits;
pub mod observations;
pub mod pipeline;
pub mod plugin;
pub mod pod;
pub mod presets;
pub mod progress;
pub mod proxy;
pub mod reason_codes;
pub mod redact;
pub mod report;
mod schedule;
pub mod secret;
pub mod serve;
pub mod signals;
pub mod stage;
mod stages;
pub mod target;
mod transport;
pub mod watch;
pub mod wire;
