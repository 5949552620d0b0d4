//! `[kafka]`: the consumer of go-livepeer's usage events.

use super::ConfigError;
use super::signer::Redacted;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The Kafka consumer.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Kafka bootstrap servers (`host:port,…`) [default: none, no consumer]
    #[arg(
        id = "brokers",
        long = "kafka-brokers",
        env = "TOLLHOUSE_KAFKA_BROKERS",
        global = true
    )]
    pub brokers: Option<String>,
    /// Topic go-livepeer publishes usage events to (`-kafkaGatewayTopic`)
    #[arg(
        id = "topic",
        long = "kafka-topic",
        env = "TOLLHOUSE_KAFKA_TOPIC",
        global = true,
        default_value = "livepeer-gateway"
    )]
    pub topic: String,
    /// Consumer group
    #[arg(
        id = "group",
        long = "kafka-group",
        env = "TOLLHOUSE_KAFKA_GROUP",
        global = true,
        default_value = "tollhouse"
    )]
    pub group: String,
    /// SASL/PLAIN user name, with the password (TLS is then on unless `tls = false`)
    #[arg(
        id = "username",
        long = "kafka-username",
        env = "TOLLHOUSE_KAFKA_USERNAME",
        global = true
    )]
    pub username: Option<String>,
    /// SASL/PLAIN password
    #[arg(
        id = "password",
        long = "kafka-password",
        env = "TOLLHOUSE_KAFKA_PASSWORD",
        global = true,
        hide_env_values = true
    )]
    pub password: Option<Redacted>,
    /// TLS to the brokers [default: on with SASL]
    #[arg(
        id = "tls",
        long = "kafka-tls",
        env = "TOLLHOUSE_KAFKA_TLS",
        global = true
    )]
    pub tls: Option<bool>,
    /// CA bundle (PEM) for the brokers' certificates [default: system roots]
    #[arg(
        id = "ca_file",
        long = "kafka-ca-file",
        env = "TOLLHOUSE_KAFKA_CA_FILE",
        global = true
    )]
    pub ca_file: Option<PathBuf>,
}

impl KafkaConfig {
    /// The topic and group must be named; SASL needs both its user name and password.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.brokers.as_deref().is_some_and(|b| b.trim().is_empty()) {
            return Err(ConfigError::invalid(
                "kafka.brokers",
                "is empty (leave it unset for no consumer)",
            ));
        }
        if self.topic.is_empty() {
            return Err(ConfigError::invalid("kafka.topic", "is empty"));
        }
        if self.group.is_empty() {
            return Err(ConfigError::invalid("kafka.group", "is empty"));
        }
        match (&self.username, &self.password) {
            (Some(_), None) => Err(ConfigError::invalid(
                "kafka.password",
                "is needed with kafka.username (SASL/PLAIN)",
            )),
            (None, Some(_)) => Err(ConfigError::invalid(
                "kafka.username",
                "is needed with kafka.password (SASL/PLAIN)",
            )),
            _ => Ok(()),
        }
    }

    /// Whether TLS is used: as set, else on exactly when SASL is.
    pub fn uses_tls(&self) -> bool {
        self.tls.unwrap_or(self.username.is_some())
    }
}
