//! The names of the broker families and how sure a recognition is: the small vocabulary that
//! presets, the CONNACK catalog and the observations share with [`crate::brokers`], which holds
//! what the doctor knows about each family. Kept apart so that those lower modules need not
//! import the families.

use clap::ValueEnum;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A broker family the doctor knows. Its name on the command line is the lowercase variant name;
/// the aliases are also accepted (`--broker rabbit`, `--preset azure-iot-operations`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ValueEnum)]
pub enum Broker {
    Mosquitto,
    Emqx,
    /// Azure IoT Operations' MQTT broker.
    #[value(alias = "azure-iot-operations", alias = "azure")]
    Aio,
    Hivemq,
    /// RabbitMQ with its MQTT plugin.
    #[value(alias = "rabbit")]
    Rabbitmq,
    #[value(alias = "verne")]
    Vernemq,
    Nanomq,
    Ejabberd,
    Aedes,
    /// amqtt, the successor of HBMQTT.
    #[value(alias = "hbmqtt")]
    Amqtt,
}

impl Broker {
    pub const ALL: [Broker; 10] = [
        Broker::Mosquitto,
        Broker::Emqx,
        Broker::Aio,
        Broker::Hivemq,
        Broker::Rabbitmq,
        Broker::Vernemq,
        Broker::Nanomq,
        Broker::Ejabberd,
        Broker::Aedes,
        Broker::Amqtt,
    ];

    /// Reads a name or an alias, in any case.
    pub fn parse(text: &str) -> Option<Broker> {
        Broker::from_str(text, true).ok()
    }
}

/// How sure the doctor is of the broker family.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// Nothing observed sets a family apart.
    Unknown,
    /// A default or a behaviour that this family shows and few others do.
    Likely,
    /// Something only this family sends (an assigned client id in its format, its reason
    /// strings, its own authentication method accepted).
    Identified,
    /// Named by the user with `--broker` (or a preset).
    Given,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Given => "given",
            Confidence::Identified => "identified",
            Confidence::Likely => "likely",
            Confidence::Unknown => "unknown",
        }
    }
}
