//! The group state machine under a clock the tests move by hand.

use super::*;

fn config() -> GroupConfig {
    GroupConfig {
        offsets_topic_partitions: 1,
        offsets_retention_ms: 60_000,
        offset_metadata_bytes_max: 4096,
        initial_rebalance_delay_ms: 0,
        min_session_timeout_ms: 100,
        max_session_timeout_ms: 60_000,
        max_size: 10,
    }
}

fn join_request(member_id: &str, protocols: &[&str]) -> JoinRequest {
    JoinRequest {
        member_id: member_id.to_owned(),
        instance_id: None,
        client_id: "client".to_owned(),
        client_host: "/127.0.0.1".to_owned(),
        session_timeout_ms: 1_000,
        rebalance_timeout_ms: 5_000,
        protocol_type: "consumer".to_owned(),
        protocols: protocols
            .iter()
            .map(|name| (name.to_string(), Bytes::from(format!("meta-{name}"))))
            .collect(),
        require_known_member_id: true,
    }
}

fn static_request(instance: &str) -> JoinRequest {
    JoinRequest {
        instance_id: Some(instance.to_owned()),
        ..join_request("", &["range"])
    }
}

fn now_outcome<T: std::fmt::Debug>(reply: Reply<T>) -> T {
    match reply {
        Reply::Now(outcome) => outcome,
        Reply::Wait(_) => panic!("expected an answer now"),
    }
}

fn waiting<T>(reply: Reply<T>) -> oneshot::Receiver<T> {
    match reply {
        Reply::Wait(receiver) => receiver,
        Reply::Now(_) => panic!("expected to wait"),
    }
}

/// Takes an answer that must have been delivered.
fn delivered<T>(receiver: &mut oneshot::Receiver<T>) -> T {
    receiver
        .try_recv()
        .expect("sender kept")
        .expect("answer delivered")
}

/// Joins a dynamic member the KIP-394 way (MEMBER_ID_REQUIRED, then join with the id).
fn join_new(
    group: &mut Group,
    protocols: &[&str],
    now: Ms,
) -> (String, oneshot::Receiver<JoinOutcome>) {
    let (reply, deliveries) = group.join(join_request("", protocols), &config(), false, now);
    deliveries.deliver(None);
    let first = now_outcome(reply);
    assert_eq!(first.error, ErrorCode::MemberIdRequired);
    assert!(!first.member_id.is_empty());
    let (reply, deliveries) = group.join(
        join_request(&first.member_id, protocols),
        &config(),
        false,
        now,
    );
    deliveries.deliver(None);
    (first.member_id, waiting(reply))
}

fn who(member_id: &str) -> Identity {
    Identity {
        member_id: member_id.to_owned(),
        instance_id: None,
    }
}

/// Leader syncs with one assignment per member; returns every member's sync answer.
fn sync_all(group: &mut Group, leader: &str, members: &[String], now: Ms) -> Vec<SyncOutcome> {
    let generation = group.generation;
    let mut receivers = Vec::new();
    for member in members.iter().filter(|member| *member != leader) {
        let (reply, deliveries) = group.sync(&who(member), generation, None, None, vec![], now);
        assert!(!deliveries.persist);
        deliveries.deliver(None);
        receivers.push(waiting(reply));
    }
    let assignments = members
        .iter()
        .map(|member| (member.clone(), Bytes::from(format!("for-{member}"))))
        .collect();
    let (reply, deliveries) = group.sync(&who(leader), generation, None, None, assignments, now);
    assert!(
        deliveries.persist,
        "a completed sync makes the group durable"
    );
    deliveries.deliver(None);
    receivers.push(waiting(reply));
    receivers.iter_mut().map(delivered).collect()
}

#[test]
fn first_join_needs_a_member_id_then_forms_a_generation() {
    let mut group = Group::new("g".into(), 0);
    let (member, mut join) = join_new(&mut group, &["range"], 0);
    let outcome = delivered(&mut join);
    assert_eq!(outcome.error, ErrorCode::None);
    assert_eq!(outcome.generation_id, 1);
    assert_eq!(outcome.leader, member);
    assert_eq!(outcome.protocol_name.as_deref(), Some("range"));
    assert_eq!(outcome.members.len(), 1, "the leader sees every member");
    assert_eq!(group.state, GroupState::CompletingRebalance);
    let answers = sync_all(&mut group, &member, std::slice::from_ref(&member), 10);
    assert_eq!(answers[0].assignment, Bytes::from(format!("for-{member}")));
    assert_eq!(group.state, GroupState::Stable);
    assert_eq!(group.heartbeat(&who(&member), 1, 20), ErrorCode::None);
}

#[test]
fn a_second_member_triggers_a_rebalance_that_waits_for_the_first() {
    let mut group = Group::new("g".into(), 0);
    let (first, mut join) = join_new(&mut group, &["range"], 0);
    delivered(&mut join);
    sync_all(&mut group, &first, std::slice::from_ref(&first), 0);

    let (second, mut second_join) = join_new(&mut group, &["range"], 100);
    assert_eq!(group.state, GroupState::PreparingRebalance);
    assert!(
        second_join.try_recv().unwrap().is_none(),
        "waits for the first member"
    );
    // The first member learns of the rebalance from its heartbeat and rejoins.
    assert_eq!(
        group.heartbeat(&who(&first), 1, 150),
        ErrorCode::RebalanceInProgress
    );
    let (reply, deliveries) = group.join(join_request(&first, &["range"]), &config(), false, 200);
    let mut first_join = waiting(reply);
    deliveries.deliver(None);
    let leader_view = delivered(&mut first_join);
    let follower_view = delivered(&mut second_join);
    assert_eq!(leader_view.generation_id, 2);
    assert_eq!(leader_view.leader, first, "the old leader keeps leading");
    assert_eq!(leader_view.members.len(), 2);
    assert!(follower_view.members.is_empty());
    let answers = sync_all(&mut group, &first, &[first.clone(), second.clone()], 250);
    let mut assignments: Vec<_> = answers
        .into_iter()
        .map(|answer| answer.assignment)
        .collect();
    assignments.sort();
    let mut expected = vec![
        Bytes::from(format!("for-{first}")),
        Bytes::from(format!("for-{second}")),
    ];
    expected.sort();
    assert_eq!(assignments, expected);
    // A heartbeat from the old generation is refused.
    assert_eq!(
        group.heartbeat(&who(&second), 1, 300),
        ErrorCode::IllegalGeneration
    );
}

#[test]
fn a_member_that_does_not_rejoin_is_dropped_at_the_rebalance_deadline() {
    let mut group = Group::new("g".into(), 0);
    let (first, mut join) = join_new(&mut group, &["range"], 0);
    delivered(&mut join);
    sync_all(&mut group, &first, std::slice::from_ref(&first), 0);
    let (second, mut second_join) = join_new(&mut group, &["range"], 1_000);
    // The first member keeps heartbeating but never rejoins: at the rebalance timeout (5 s
    // after the rebalance started) the join completes without it.
    for now in (1_100..6_000).step_by(300) {
        group.heartbeat(&who(&first), 1, now);
        group.tick(now).deliver(None);
        assert!(second_join.try_recv().unwrap().is_none());
    }
    group.tick(6_000).deliver(None);
    let outcome = delivered(&mut second_join);
    assert_eq!(outcome.generation_id, 2);
    assert_eq!(outcome.leader, second);
    assert!(group.member(&first).is_none());
}

#[test]
fn sessions_expire_and_the_rest_rebalance() {
    let mut group = Group::new("g".into(), 0);
    let (a, mut join_a) = join_new(&mut group, &["range"], 0);
    let (b, mut join_b) = join_new(&mut group, &["range"], 0);
    // `a` joined alone first, so generation 1 has only `a`; `b` started generation 2.
    delivered(&mut join_a);
    let (reply, deliveries) = group.join(join_request(&a, &["range"]), &config(), false, 0);
    deliveries.deliver(None);
    let mut rejoin_a = waiting(reply);
    delivered(&mut rejoin_a);
    delivered(&mut join_b);
    sync_all(&mut group, &a, &[a.clone(), b.clone()], 0);
    let generation = group.generation;
    // `b` stops heartbeating; `a` carries on.
    for now in (100..=1_000).step_by(100) {
        assert_eq!(group.heartbeat(&who(&a), generation, now), ErrorCode::None);
        group.tick(now).deliver(None);
    }
    group.tick(1_001).deliver(None);
    assert!(group.member(&b).is_none(), "b's session expired");
    assert_eq!(group.state, GroupState::PreparingRebalance);
    assert_eq!(
        group.heartbeat(&who(&a), generation, 1_050),
        ErrorCode::RebalanceInProgress
    );
    let (reply, deliveries) = group.join(join_request(&a, &["range"]), &config(), false, 1_100);
    deliveries.deliver(None);
    let outcome = now_outcome_or_delivered(reply);
    assert_eq!(outcome.generation_id, generation + 1);
    assert_eq!(outcome.members.len(), 1);
}

fn now_outcome_or_delivered(reply: Reply<JoinOutcome>) -> JoinOutcome {
    match reply {
        Reply::Now(outcome) => outcome,
        Reply::Wait(mut receiver) => delivered(&mut receiver),
    }
}

#[test]
fn leaving_empties_the_group_and_offsets_expire_after_retention() {
    let mut group = Group::new("g".into(), 0);
    let (a, mut join) = join_new(&mut group, &["range"], 0);
    delivered(&mut join);
    sync_all(&mut group, &a, std::slice::from_ref(&a), 0);
    assert_eq!(group.check_commit(&who(&a), 1, 10), ErrorCode::None);
    group.apply_commit(
        "t".into(),
        0,
        CommittedOffset {
            offset: 5,
            leader_epoch: 0,
            metadata: None,
            commit_timestamp_ms: 10,
            log_offset: 0,
        },
    );
    let (errors, deliveries) = group.leave(&[who(&a), who("stranger")], 100);
    assert!(deliveries.persist, "the empty group is recorded");
    assert_eq!(errors, vec![ErrorCode::None, ErrorCode::UnknownMemberId]);
    assert_eq!(group.state, GroupState::Empty);
    assert!(group.expire_offsets(60_000, 60_099).is_empty(), "not yet");
    assert_eq!(
        group.expire_offsets(60_000, 60_100),
        vec![("t".to_owned(), 0)]
    );
    assert!(group.is_forgettable());
}

#[test]
fn manual_commits_are_accepted_only_while_the_group_has_no_members() {
    let mut group = Group::new("g".into(), 0);
    assert_eq!(
        group.check_commit(&Identity::default(), -1, 0),
        ErrorCode::None
    );
    let (a, mut join) = join_new(&mut group, &["range"], 0);
    delivered(&mut join);
    assert_eq!(
        group.check_commit(&Identity::default(), -1, 0),
        ErrorCode::UnknownMemberId
    );
    assert_eq!(
        group.check_commit(&who(&a), 1, 0),
        ErrorCode::RebalanceInProgress,
        "no commits between join and sync"
    );
    sync_all(&mut group, &a, std::slice::from_ref(&a), 0);
    assert_eq!(
        group.check_commit(&who(&a), 0, 0),
        ErrorCode::IllegalGeneration
    );
    assert_eq!(
        group.check_commit(&who("x"), 1, 0),
        ErrorCode::UnknownMemberId
    );
    assert_eq!(group.check_commit(&who(&a), 1, 0), ErrorCode::None);
}

#[test]
fn a_later_log_position_wins_even_if_applied_first() {
    let mut group = Group::new("g".into(), 0);
    let commit = |offset, log_offset| CommittedOffset {
        offset,
        leader_epoch: -1,
        metadata: None,
        commit_timestamp_ms: 0,
        log_offset,
    };
    group.apply_commit("t".into(), 0, commit(20, 8));
    group.apply_commit("t".into(), 0, commit(10, 7));
    assert_eq!(group.offsets[&("t".to_owned(), 0)].offset, 20);
}

#[test]
fn protocol_selection_and_inconsistent_protocols() {
    let mut group = Group::new("g".into(), 0);
    let (a, mut join_a) = join_new(&mut group, &["cooperative-sticky", "range"], 0);
    delivered(&mut join_a);
    // A newcomer supporting nothing in common is refused.
    let (reply, _) = group.join(join_request("", &["roundrobin"]), &config(), false, 0);
    assert_eq!(
        now_outcome(reply).error,
        ErrorCode::InconsistentGroupProtocol
    );
    let (b, mut join_b) = join_new(&mut group, &["range", "cooperative-sticky"], 0);
    let (reply, deliveries) = group.join(
        join_request(&a, &["cooperative-sticky", "range"]),
        &config(),
        false,
        0,
    );
    deliveries.deliver(None);
    let outcome = now_outcome_or_delivered(reply);
    delivered(&mut join_b);
    // One vote each: the tie goes to the first member's preference.
    assert_eq!(outcome.protocol_name.as_deref(), Some("cooperative-sticky"));
    assert_eq!(
        group.member(&b).unwrap().metadata("range"),
        Bytes::from("meta-range")
    );
}

#[test]
fn a_static_member_rejoins_a_stable_group_without_a_rebalance() {
    let mut group = Group::new("g".into(), 0);
    let (reply, deliveries) = group.join(static_request("instance-1"), &config(), false, 0);
    deliveries.deliver(None);
    let first = now_outcome_or_delivered(reply);
    assert_eq!(
        first.error,
        ErrorCode::None,
        "static members skip MEMBER_ID_REQUIRED"
    );
    let old_id = first.member_id.clone();
    sync_all(&mut group, &old_id, std::slice::from_ref(&old_id), 0);
    let generation = group.generation;

    // The process restarts: same instance id, no member id.
    let (reply, deliveries) = group.join(static_request("instance-1"), &config(), true, 500);
    assert!(deliveries.persist, "the new member id is recorded");
    deliveries.deliver(None);
    let again = now_outcome(reply);
    assert_eq!(again.error, ErrorCode::None);
    assert_eq!(again.generation_id, generation, "no rebalance");
    assert_ne!(again.member_id, old_id);
    assert!(
        again.skip_assignment,
        "the leader keeps the current assignment"
    );
    assert_eq!(group.state, GroupState::Stable);
    // The old incarnation is fenced.
    let fenced = Identity {
        member_id: old_id,
        instance_id: Some("instance-1".into()),
    };
    assert_eq!(
        group.heartbeat(&fenced, generation, 600),
        ErrorCode::FencedInstanceId
    );
    let (reply, _) = group.sync(
        &Identity {
            member_id: again.member_id.clone(),
            instance_id: Some("instance-1".into()),
        },
        generation,
        None,
        None,
        vec![],
        700,
    );
    let assignment = now_outcome(reply).assignment;
    assert!(assignment.starts_with(b"for-"), "keeps its assignment");
}

#[test]
fn the_initial_delay_waits_for_more_members() {
    let config = GroupConfig {
        initial_rebalance_delay_ms: 1_000,
        ..config()
    };
    let mut group = Group::new("g".into(), 0);
    let (reply, deliveries) = group.join(join_request("", &["range"]), &config, false, 0);
    deliveries.deliver(None);
    let id = now_outcome(reply).member_id;
    let (reply, deliveries) = group.join(join_request(&id, &["range"]), &config, false, 0);
    deliveries.deliver(None);
    let mut join = waiting(reply);
    group.tick(999).deliver(None);
    assert!(join.try_recv().unwrap().is_none());
    group.tick(1_000).deliver(None);
    assert_eq!(delivered(&mut join).generation_id, 1);
}

#[test]
fn session_timeouts_outside_the_bounds_are_refused_and_the_size_is_capped() {
    let mut group = Group::new("g".into(), 0);
    let request = JoinRequest {
        session_timeout_ms: 50,
        ..join_request("", &["range"])
    };
    let (reply, _) = group.join(request, &config(), false, 0);
    assert_eq!(now_outcome(reply).error, ErrorCode::InvalidSessionTimeout);
    let small = GroupConfig {
        max_size: 1,
        ..config()
    };
    let (reply, _) = group.join(join_request("", &["range"]), &small, false, 0);
    assert_eq!(now_outcome(reply).error, ErrorCode::MemberIdRequired);
    let (reply, _) = group.join(join_request("", &["range"]), &small, false, 0);
    assert_eq!(now_outcome(reply).error, ErrorCode::GroupMaxSizeReached);
}

#[test]
fn a_restored_group_keeps_members_and_assignments() {
    let mut group = Group::new("g".into(), 0);
    let (a, mut join) = join_new(&mut group, &["range"], 0);
    delivered(&mut join);
    sync_all(&mut group, &a, std::slice::from_ref(&a), 0);
    let restored = Group::restored("g".into(), group.snapshot(), 1_000);
    assert_eq!(restored.state, GroupState::Stable);
    assert_eq!(restored.generation, group.generation);
    assert_eq!(restored.leader, group.leader);
    let member = restored.member(&a).expect("member restored");
    assert_eq!(member.assignment, group.member(&a).unwrap().assignment);
    assert_eq!(member.last_heard_ms, 1_000, "sessions restart at load");
}
