//! # storage: partition logs on disk
//!
//! Work in progress: see the storage issue. Knows nothing of sockets or Kafka requests.
