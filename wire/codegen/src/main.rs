//! Generates wire's message codecs from Kafka's JSON message schemas. Being written.

fn main() {}
