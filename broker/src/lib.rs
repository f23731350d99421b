//! The Kafka-compatible broker (being built: see issue 5).
