//! One consumer group's state machine (Kafka's classic group protocol), free of I/O and of
//! the clock: every operation takes the current time in milliseconds, so tests drive time.
//!
//! States: `Empty` (no members; committed offsets may remain), `PreparingRebalance` (waiting
//! for every member to rejoin, bounded by the longest rebalance timeout), `CompletingRebalance`
//! (joined; waiting for the leader's assignment in SyncGroup), `Stable`, and `Dead` (deleted;
//! the coordinator forgets it).
//!
//! Operations never block: a JoinGroup or SyncGroup that has to wait gets a receiver, and the
//! operation that completes the phase hands back the answers to deliver ([`Deliveries`]) so
//! that the coordinator can first make the group durable when the phase asks for it.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use futures_channel::oneshot;
use wire::error_code::ErrorCode;

use super::GroupConfig;

/// Milliseconds since the epoch (or any fixed origin, in tests).
pub type Ms = i64;

/// A group's state, named as Kafka names it in DescribeGroups and ListGroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// The answer to a JoinGroup.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinOutcome {
    pub error: ErrorCode,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// For the leader only: every member with its metadata for the chosen protocol.
    pub members: Vec<JoinedMember>,
    /// Tells a static leader that rejoined a stable group not to assign again (v9+).
    pub skip_assignment: bool,
}

impl JoinOutcome {
    pub fn error(error: ErrorCode, member_id: &str) -> Self {
        JoinOutcome {
            error,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_owned(),
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

/// A member as the leader sees it in its JoinGroup answer.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinedMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub metadata: Bytes,
}

/// The answer to a SyncGroup.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncOutcome {
    pub error: ErrorCode,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncOutcome {
    pub fn error(error: ErrorCode) -> Self {
        SyncOutcome {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// An answer now, or a receiver that gets it when the phase completes.
pub enum Reply<T> {
    Now(T),
    Wait(oneshot::Receiver<T>),
}

/// Answers an operation produced for waiting requests, and whether the group must be made
/// durable before they are delivered.
#[derive(Default)]
pub struct Deliveries {
    pub joins: Vec<(oneshot::Sender<JoinOutcome>, JoinOutcome)>,
    pub syncs: Vec<(oneshot::Sender<SyncOutcome>, SyncOutcome)>,
    pub persist: bool,
}

impl Deliveries {
    /// Sends every answer (a receiver that went away is ignored). If the group could not be
    /// made durable, SyncGroup answers carry `sync_error` instead.
    pub fn deliver(self, sync_error: Option<ErrorCode>) {
        for (sender, outcome) in self.joins {
            let _ = sender.send(outcome);
        }
        for (sender, outcome) in self.syncs {
            let outcome = match sync_error {
                Some(error) => SyncOutcome::error(error),
                None => outcome,
            };
            let _ = sender.send(outcome);
        }
    }

    fn absorb(&mut self, other: Deliveries) {
        self.joins.extend(other.joins);
        self.syncs.extend(other.syncs);
        self.persist |= other.persist;
    }
}

/// One member of a group.
#[derive(Debug)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    /// Supported protocols in preference order, each with its metadata (the subscription).
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    /// When the coordinator last heard from the member (join, sync, heartbeat, commit).
    pub last_heard_ms: Ms,
    awaiting_join: Option<oneshot::Sender<JoinOutcome>>,
    awaiting_sync: Option<oneshot::Sender<SyncOutcome>>,
}

impl Member {
    /// The metadata for `protocol`, empty if the member does not support it.
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata.clone())
            .unwrap_or_default()
    }

    /// Takes the settings of a JoinGroup from this member.
    fn refresh(&mut self, request: JoinRequest, now: Ms) {
        self.protocols = request.protocols;
        self.session_timeout_ms = request.session_timeout_ms;
        self.rebalance_timeout_ms = request.rebalance_timeout_ms;
        self.client_id = request.client_id;
        self.client_host = request.client_host;
        self.last_heard_ms = now;
    }

    fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(name, _)| name == protocol)
    }

    fn alive(&self, now: Ms) -> bool {
        self.awaiting_join.is_some()
            || self.awaiting_sync.is_some()
            || now
                < self
                    .last_heard_ms
                    .saturating_add(i64::from(self.session_timeout_ms))
    }
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub commit_timestamp_ms: Ms,
    /// Where the commit sits in `__consumer_offsets`: a later write wins even if its append
    /// completes first.
    pub log_offset: i64,
}

/// A JoinGroup as the state machine needs it.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// v4+: an unknown member first gets MEMBER_ID_REQUIRED with its id (KIP-394).
    pub require_known_member_id: bool,
}

/// Who a request says it is.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub member_id: String,
    pub instance_id: Option<String>,
}

/// One consumer group.
#[derive(Debug)]
pub struct Group {
    pub id: String,
    pub state: GroupState,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub generation: i32,
    pub leader: Option<String>,
    /// Members in join order (the first one leads a new generation).
    pub members: Vec<Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with the time they expire unused.
    pending: HashMap<String, Ms>,
    /// When the state last changed; offsets of an empty group expire counted from it.
    pub state_since_ms: Ms,
    rebalance_deadline_ms: Ms,
    /// The first rebalance of an empty group waits until then for more members.
    join_not_before_ms: Ms,
    /// In CompletingRebalance: members that have not sent SyncGroup by then are removed.
    sync_deadline_ms: Ms,
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
    /// Commits being written: the group is kept while any is in flight.
    pub commits_in_flight: u32,
}

fn new_member_id(client_id: &str, instance_id: Option<&str>) -> String {
    let prefix = instance_id.unwrap_or(client_id);
    let suffix: u128 = rand::random();
    format!("{prefix}-{:032x}", suffix)
}

impl Group {
    pub fn new(id: String, now: Ms) -> Self {
        Group {
            id,
            state: GroupState::Empty,
            protocol_type: None,
            protocol: None,
            generation: 0,
            leader: None,
            members: Vec::new(),
            pending: HashMap::new(),
            state_since_ms: now,
            rebalance_deadline_ms: 0,
            join_not_before_ms: 0,
            sync_deadline_ms: 0,
            offsets: BTreeMap::new(),
            commits_in_flight: 0,
        }
    }

    /// A group read back from `__consumer_offsets`: its members are kept with their
    /// assignments, and their sessions start now.
    pub fn restored(id: String, snapshot: super::log::GroupSnapshot, now: Ms) -> Self {
        let mut group = Group::new(id, now);
        group.protocol_type = Some(snapshot.protocol_type).filter(|text| !text.is_empty());
        group.protocol = snapshot.protocol;
        group.generation = snapshot.generation;
        group.leader = snapshot.leader;
        group.state_since_ms = snapshot.state_timestamp_ms.max(0);
        group.members = snapshot
            .members
            .into_iter()
            .map(|member| Member {
                protocols: vec![(
                    group.protocol.clone().unwrap_or_default(),
                    member.subscription,
                )],
                id: member.member_id,
                instance_id: member.instance_id,
                client_id: member.client_id,
                client_host: member.client_host,
                session_timeout_ms: member.session_timeout_ms,
                rebalance_timeout_ms: member.rebalance_timeout_ms,
                assignment: member.assignment,
                last_heard_ms: now,
                awaiting_join: None,
                awaiting_sync: None,
            })
            .collect();
        group.state = if group.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        group
    }

    /// What is written to `__consumer_offsets` for this group.
    pub fn snapshot(&self) -> super::log::GroupSnapshot {
        let protocol = self.protocol.clone().unwrap_or_default();
        super::log::GroupSnapshot {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            state_timestamp_ms: self.state_since_ms,
            members: self
                .members
                .iter()
                .map(|member| super::log::MemberSnapshot {
                    member_id: member.id.clone(),
                    instance_id: member.instance_id.clone(),
                    client_id: member.client_id.clone(),
                    client_host: member.client_host.clone(),
                    rebalance_timeout_ms: member.rebalance_timeout_ms,
                    session_timeout_ms: member.session_timeout_ms,
                    subscription: member.metadata(&protocol),
                    assignment: member.assignment.clone(),
                })
                .collect(),
        }
    }

    pub fn member(&self, member_id: &str) -> Option<&Member> {
        self.members.iter().find(|member| member.id == member_id)
    }

    fn member_mut(&mut self, member_id: &str) -> Option<&mut Member> {
        self.members
            .iter_mut()
            .find(|member| member.id == member_id)
    }

    fn member_by_instance(&self, instance_id: &str) -> Option<&Member> {
        self.members
            .iter()
            .find(|member| member.instance_id.as_deref() == Some(instance_id))
    }

    fn set_state(&mut self, state: GroupState, now: Ms) {
        if self.state != state {
            self.state = state;
            self.state_since_ms = now;
        }
    }

    /// Checks that `who` is a current member: UNKNOWN_MEMBER_ID, or FENCED_INSTANCE_ID when a
    /// static member's instance id now belongs to another member id.
    fn check_member(&self, who: &Identity) -> Result<(), ErrorCode> {
        if let Some(instance_id) = &who.instance_id {
            if let Some(holder) = self.member_by_instance(instance_id) {
                if holder.id != who.member_id {
                    return Err(ErrorCode::FencedInstanceId);
                }
            }
        }
        if self.member(&who.member_id).is_some() {
            Ok(())
        } else {
            Err(ErrorCode::UnknownMemberId)
        }
    }

    /// Whether every member supports one of `protocols` in common, as a new member must.
    fn accepts_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if protocols.is_empty() || protocol_type.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        protocols
            .iter()
            .any(|(name, _)| self.members.iter().all(|member| member.supports(name)))
    }

    /// The answer for a member that (re)joins the current generation without a rebalance.
    fn current_generation_answer(&self, member_id: &str, skip_assignment: bool) -> JoinOutcome {
        let is_leader = self.leader.as_deref() == Some(member_id);
        JoinOutcome {
            error: ErrorCode::None,
            generation_id: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_owned(),
            members: if is_leader {
                self.joined_members()
            } else {
                Vec::new()
            },
            skip_assignment: is_leader && skip_assignment,
        }
    }

    fn joined_members(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol.clone().unwrap_or_default();
        self.members
            .iter()
            .map(|member| JoinedMember {
                member_id: member.id.clone(),
                instance_id: member.instance_id.clone(),
                metadata: member.metadata(&protocol),
            })
            .collect()
    }

    /// JoinGroup. `client_supports_skip` is whether the request version has skip_assignment.
    pub fn join(
        &mut self,
        request: JoinRequest,
        config: &GroupConfig,
        client_supports_skip: bool,
        now: Ms,
    ) -> (Reply<JoinOutcome>, Deliveries) {
        let mut deliveries = Deliveries::default();
        let now_reply = |outcome| (Reply::Now(outcome), Deliveries::default());
        if request.session_timeout_ms < config.min_session_timeout_ms
            || request.session_timeout_ms > config.max_session_timeout_ms
        {
            return now_reply(JoinOutcome::error(
                ErrorCode::InvalidSessionTimeout,
                &request.member_id,
            ));
        }
        let known = self.member(&request.member_id).is_some();
        if !known && !self.accepts_protocols(&request.protocol_type, &request.protocols) {
            return now_reply(JoinOutcome::error(
                ErrorCode::InconsistentGroupProtocol,
                &request.member_id,
            ));
        }
        if known
            && (request.protocols.is_empty()
                || self.protocol_type.as_deref() != Some(request.protocol_type.as_str()))
        {
            return now_reply(JoinOutcome::error(
                ErrorCode::InconsistentGroupProtocol,
                &request.member_id,
            ));
        }

        if request.member_id.is_empty() {
            // A static member coming back under a new member id replaces its old self.
            if let Some(instance_id) = request.instance_id.clone() {
                if let Some(old) = self.member_by_instance(&instance_id) {
                    let old_id = old.id.clone();
                    return self.replace_static_member(old_id, request, client_supports_skip, now);
                }
            } else if request.require_known_member_id {
                if self.members.len() + self.pending.len() >= config.max_size {
                    return now_reply(JoinOutcome::error(ErrorCode::GroupMaxSizeReached, ""));
                }
                let member_id = new_member_id(&request.client_id, None);
                self.pending.insert(
                    member_id.clone(),
                    now.saturating_add(i64::from(request.session_timeout_ms)),
                );
                return now_reply(JoinOutcome::error(ErrorCode::MemberIdRequired, &member_id));
            }
            if self.members.len() >= config.max_size {
                return now_reply(JoinOutcome::error(ErrorCode::GroupMaxSizeReached, ""));
            }
            let member_id = new_member_id(&request.client_id, request.instance_id.as_deref());
            let receiver = self.add_member(member_id, request, config, now, &mut deliveries);
            return (Reply::Wait(receiver), deliveries);
        }

        if self.pending.remove(&request.member_id).is_some() {
            if self.members.len() >= config.max_size {
                return now_reply(JoinOutcome::error(
                    ErrorCode::GroupMaxSizeReached,
                    &request.member_id,
                ));
            }
            let member_id = request.member_id.clone();
            let receiver = self.add_member(member_id, request, config, now, &mut deliveries);
            return (Reply::Wait(receiver), deliveries);
        }

        let who = Identity {
            member_id: request.member_id.clone(),
            instance_id: request.instance_id.clone(),
        };
        if let Err(error) = self.check_member(&who) {
            return now_reply(JoinOutcome::error(error, &request.member_id));
        }
        let is_leader = self.leader.as_deref() == Some(request.member_id.as_str());
        let state = self.state;
        let member = self.member_mut(&request.member_id).expect("checked above");
        let unchanged = member.protocols == request.protocols;
        member.refresh(request, now);
        match state {
            GroupState::CompletingRebalance | GroupState::Stable
                if unchanged && !(state == GroupState::Stable && is_leader) =>
            {
                // It missed the answer, or just checks in: nothing changes.
                let outcome = self.current_generation_answer(&who.member_id, false);
                return now_reply(outcome);
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                deliveries.absorb(self.prepare_rebalance(now));
            }
            _ => {}
        }
        let (sender, receiver) = oneshot::channel();
        let member = self.member_mut(&who.member_id).expect("checked above");
        if let Some(previous) = member.awaiting_join.replace(sender) {
            let _ = previous.send(JoinOutcome::error(
                ErrorCode::RebalanceInProgress,
                &who.member_id,
            ));
        }
        deliveries.absorb(self.maybe_complete_join(now));
        (Reply::Wait(receiver), deliveries)
    }

    fn add_member(
        &mut self,
        member_id: String,
        request: JoinRequest,
        config: &GroupConfig,
        now: Ms,
        deliveries: &mut Deliveries,
    ) -> oneshot::Receiver<JoinOutcome> {
        if self.members.is_empty() {
            self.protocol_type = Some(request.protocol_type.clone());
        }
        let (sender, receiver) = oneshot::channel();
        self.members.push(Member {
            id: member_id,
            instance_id: request.instance_id,
            client_id: request.client_id,
            client_host: request.client_host,
            session_timeout_ms: request.session_timeout_ms,
            rebalance_timeout_ms: request.rebalance_timeout_ms,
            protocols: request.protocols,
            assignment: Bytes::new(),
            last_heard_ms: now,
            awaiting_join: Some(sender),
            awaiting_sync: None,
        });
        match self.state {
            GroupState::PreparingRebalance => {
                // A newcomer during the initial delay extends it, within the rebalance timeout.
                if self.join_not_before_ms > now {
                    self.join_not_before_ms = now
                        .saturating_add(config.initial_rebalance_delay_ms)
                        .min(self.rebalance_deadline_ms);
                }
                self.rebalance_deadline_ms = self
                    .rebalance_deadline_ms
                    .max(now.saturating_add(i64::from(request.rebalance_timeout_ms)));
            }
            _ => {
                let was_empty = self.state == GroupState::Empty;
                deliveries.absorb(self.prepare_rebalance(now));
                if was_empty {
                    self.join_not_before_ms = now
                        .saturating_add(config.initial_rebalance_delay_ms)
                        .min(self.rebalance_deadline_ms);
                }
            }
        }
        deliveries.absorb(self.maybe_complete_join(now));
        receiver
    }

    fn replace_static_member(
        &mut self,
        old_id: String,
        request: JoinRequest,
        client_supports_skip: bool,
        now: Ms,
    ) -> (Reply<JoinOutcome>, Deliveries) {
        let mut deliveries = Deliveries::default();
        let new_id = new_member_id(&request.client_id, request.instance_id.as_deref());
        let state = self.state;
        let was_leader = self.leader.as_deref() == Some(old_id.as_str());
        let member = self.member_mut(&old_id).expect("found by instance id");
        let unchanged = member.protocols == request.protocols;
        if let Some(waiting) = member.awaiting_join.take() {
            deliveries.joins.push((
                waiting,
                JoinOutcome::error(ErrorCode::FencedInstanceId, &old_id),
            ));
        }
        if let Some(waiting) = member.awaiting_sync.take() {
            deliveries
                .syncs
                .push((waiting, SyncOutcome::error(ErrorCode::FencedInstanceId)));
        }
        member.id = new_id.clone();
        member.refresh(request, now);
        if was_leader {
            self.leader = Some(new_id.clone());
        }
        if state == GroupState::Stable && unchanged {
            // KIP-345: a static member that comes back with the same subscription takes its
            // old place (and assignment) without a rebalance.
            deliveries.persist = true;
            let outcome = self.current_generation_answer(&new_id, client_supports_skip);
            return (Reply::Now(outcome), deliveries);
        }
        if matches!(state, GroupState::Stable | GroupState::CompletingRebalance) {
            deliveries.absorb(self.prepare_rebalance(now));
        }
        let (sender, receiver) = oneshot::channel();
        self.member_mut(&new_id)
            .expect("just renamed")
            .awaiting_join = Some(sender);
        deliveries.absorb(self.maybe_complete_join(now));
        (Reply::Wait(receiver), deliveries)
    }

    fn longest_rebalance_timeout_ms(&self) -> i64 {
        self.members
            .iter()
            .map(|member| i64::from(member.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    /// Starts a rebalance: members waiting in SyncGroup are told to rejoin.
    fn prepare_rebalance(&mut self, now: Ms) -> Deliveries {
        let mut deliveries = Deliveries::default();
        for member in &mut self.members {
            if let Some(waiting) = member.awaiting_sync.take() {
                deliveries
                    .syncs
                    .push((waiting, SyncOutcome::error(ErrorCode::RebalanceInProgress)));
            }
        }
        self.rebalance_deadline_ms = now.saturating_add(self.longest_rebalance_timeout_ms());
        self.join_not_before_ms = now;
        self.set_state(GroupState::PreparingRebalance, now);
        deliveries
    }

    /// Completes the join phase once every member rejoined (after the initial delay), or at
    /// the rebalance deadline without those that did not.
    fn maybe_complete_join(&mut self, now: Ms) -> Deliveries {
        if self.state != GroupState::PreparingRebalance {
            return Deliveries::default();
        }
        let all_joined = self.pending.is_empty()
            && self
                .members
                .iter()
                .all(|member| member.awaiting_join.is_some());
        let deadline_passed = now >= self.rebalance_deadline_ms;
        if !(deadline_passed || (all_joined && now >= self.join_not_before_ms)) {
            return Deliveries::default();
        }
        if deadline_passed {
            self.members.retain(|member| member.awaiting_join.is_some());
            self.pending.clear();
        }
        self.complete_join(now)
    }

    fn complete_join(&mut self, now: Ms) -> Deliveries {
        let mut deliveries = Deliveries::default();
        self.generation = self.generation.wrapping_add(1).max(1);
        if self.members.is_empty() {
            self.protocol = None;
            self.leader = None;
            self.set_state(GroupState::Empty, now);
            deliveries.persist = true;
            return deliveries;
        }
        self.protocol = self.select_protocol();
        if self
            .leader
            .as_ref()
            .is_none_or(|leader| self.member(leader).is_none())
        {
            self.leader = Some(self.members[0].id.clone());
        }
        self.set_state(GroupState::CompletingRebalance, now);
        self.sync_deadline_ms = now.saturating_add(self.longest_rebalance_timeout_ms());
        let everyone = self.joined_members();
        let leader = self.leader.clone().unwrap_or_default();
        for member in &mut self.members {
            member.last_heard_ms = now;
            member.assignment = Bytes::new();
            let Some(waiting) = member.awaiting_join.take() else {
                continue;
            };
            let outcome = JoinOutcome {
                error: ErrorCode::None,
                generation_id: self.generation,
                protocol_type: self.protocol_type.clone(),
                protocol_name: self.protocol.clone(),
                leader: leader.clone(),
                member_id: member.id.clone(),
                members: if member.id == leader {
                    everyone.clone()
                } else {
                    Vec::new()
                },
                skip_assignment: false,
            };
            deliveries.joins.push((waiting, outcome));
        }
        deliveries
    }

    /// The protocol every member supports that most members prefer (ties: the first
    /// member's preference order).
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.first()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| self.members.iter().all(|member| member.supports(name)))
            .collect();
        let mut votes: Vec<usize> = vec![0; candidates.len()];
        for member in &self.members {
            if let Some(choice) = member
                .protocols
                .iter()
                .find_map(|(name, _)| candidates.iter().position(|candidate| candidate == name))
            {
                votes[choice] += 1;
            }
        }
        let best = votes.iter().copied().max()?;
        let position = votes.iter().position(|count| *count == best)?;
        Some(candidates[position].to_owned())
    }

    /// SyncGroup.
    pub fn sync(
        &mut self,
        who: &Identity,
        generation_id: i32,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        assignments: Vec<(String, Bytes)>,
        now: Ms,
    ) -> (Reply<SyncOutcome>, Deliveries) {
        let now_reply = |error| (Reply::Now(SyncOutcome::error(error)), Deliveries::default());
        if let Err(error) = self.check_member(who) {
            return now_reply(error);
        }
        if generation_id != self.generation {
            return now_reply(ErrorCode::IllegalGeneration);
        }
        if protocol_type.is_some_and(|given| self.protocol_type.as_deref() != Some(given))
            || protocol_name.is_some_and(|given| self.protocol.as_deref() != Some(given))
        {
            return now_reply(ErrorCode::InconsistentGroupProtocol);
        }
        let protocol_type = self.protocol_type.clone();
        let protocol_name = self.protocol.clone();
        let answer = |assignment: Bytes| SyncOutcome {
            error: ErrorCode::None,
            protocol_type: protocol_type.clone(),
            protocol_name: protocol_name.clone(),
            assignment,
        };
        match self.state {
            GroupState::Empty | GroupState::Dead => now_reply(ErrorCode::UnknownMemberId),
            GroupState::PreparingRebalance => now_reply(ErrorCode::RebalanceInProgress),
            GroupState::Stable => {
                let member = self.member_mut(&who.member_id).expect("checked above");
                member.last_heard_ms = now;
                let outcome = answer(member.assignment.clone());
                (Reply::Now(outcome), Deliveries::default())
            }
            GroupState::CompletingRebalance => {
                let (sender, receiver) = oneshot::channel();
                let member = self.member_mut(&who.member_id).expect("checked above");
                member.last_heard_ms = now;
                if let Some(previous) = member.awaiting_sync.replace(sender) {
                    let _ = previous.send(SyncOutcome::error(ErrorCode::RebalanceInProgress));
                }
                let mut deliveries = Deliveries::default();
                if self.leader.as_deref() == Some(who.member_id.as_str()) {
                    let mut assignments: HashMap<String, Bytes> = assignments.into_iter().collect();
                    for member in &mut self.members {
                        member.assignment = assignments.remove(&member.id).unwrap_or_default();
                    }
                    self.set_state(GroupState::Stable, now);
                    deliveries.persist = true;
                    for member in &mut self.members {
                        if let Some(waiting) = member.awaiting_sync.take() {
                            deliveries
                                .syncs
                                .push((waiting, answer(member.assignment.clone())));
                        }
                    }
                }
                (Reply::Wait(receiver), deliveries)
            }
        }
    }

    /// Heartbeat.
    pub fn heartbeat(&mut self, who: &Identity, generation_id: i32, now: Ms) -> ErrorCode {
        if let Err(error) = self.check_member(who) {
            return error;
        }
        if generation_id != self.generation {
            return ErrorCode::IllegalGeneration;
        }
        let state = self.state;
        let member = self.member_mut(&who.member_id).expect("checked above");
        member.last_heard_ms = now;
        match state {
            GroupState::PreparingRebalance => ErrorCode::RebalanceInProgress,
            GroupState::CompletingRebalance | GroupState::Stable => ErrorCode::None,
            GroupState::Empty | GroupState::Dead => ErrorCode::UnknownMemberId,
        }
    }

    /// LeaveGroup for several members; one error per member, in order.
    pub fn leave(&mut self, leaving: &[Identity], now: Ms) -> (Vec<ErrorCode>, Deliveries) {
        let mut deliveries = Deliveries::default();
        let mut errors = Vec::with_capacity(leaving.len());
        let mut removed_any = false;
        for who in leaving {
            let member_id = if who.member_id.is_empty() {
                match who
                    .instance_id
                    .as_deref()
                    .and_then(|instance| self.member_by_instance(instance))
                {
                    Some(member) => member.id.clone(),
                    None => {
                        errors.push(ErrorCode::UnknownMemberId);
                        continue;
                    }
                }
            } else {
                if self.pending.remove(&who.member_id).is_some() {
                    errors.push(ErrorCode::None);
                    continue;
                }
                if let Err(error) = self.check_member(who) {
                    errors.push(error);
                    continue;
                }
                who.member_id.clone()
            };
            if let Some(position) = self
                .members
                .iter()
                .position(|member| member.id == member_id)
            {
                let member = self.members.remove(position);
                if let Some(waiting) = member.awaiting_join {
                    deliveries.joins.push((
                        waiting,
                        JoinOutcome::error(ErrorCode::UnknownMemberId, &member_id),
                    ));
                }
                if let Some(waiting) = member.awaiting_sync {
                    deliveries
                        .syncs
                        .push((waiting, SyncOutcome::error(ErrorCode::UnknownMemberId)));
                }
                removed_any = true;
            }
            errors.push(ErrorCode::None);
        }
        if removed_any {
            deliveries.absorb(self.after_members_removed(now));
        }
        (errors, deliveries)
    }

    /// A rebalance (or its completion) after members left or expired.
    fn after_members_removed(&mut self, now: Ms) -> Deliveries {
        let mut deliveries = Deliveries::default();
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                deliveries.absorb(self.prepare_rebalance(now));
            }
            GroupState::Empty | GroupState::Dead | GroupState::PreparingRebalance => {}
        }
        deliveries.absorb(self.maybe_complete_join(now));
        deliveries
    }

    /// Time passing: expires dead members and unused member ids, completes a join phase that
    /// reached its deadline, and removes members that never synced.
    pub fn tick(&mut self, now: Ms) -> Deliveries {
        self.pending.retain(|_, expires| *expires > now);
        let mut deliveries = Deliveries::default();
        let before = self.members.len();
        if self.state == GroupState::CompletingRebalance && now >= self.sync_deadline_ms {
            self.members.retain(|member| member.awaiting_sync.is_some());
        }
        self.members.retain(|member| member.alive(now));
        if self.members.len() != before {
            deliveries.absorb(self.after_members_removed(now));
        } else {
            deliveries.absorb(self.maybe_complete_join(now));
        }
        deliveries
    }

    /// Answers every waiting JoinGroup and SyncGroup with `error`.
    pub fn release_waiters(&mut self, error: ErrorCode) {
        for member in &mut self.members {
            if let Some(waiting) = member.awaiting_join.take() {
                let _ = waiting.send(JoinOutcome::error(error, &member.id));
            }
            if let Some(waiting) = member.awaiting_sync.take() {
                let _ = waiting.send(SyncOutcome::error(error));
            }
        }
    }

    /// Checks an OffsetCommit's identity against the group (and counts it as a sign of life).
    pub fn check_commit(&mut self, who: &Identity, generation_id: i32, now: Ms) -> ErrorCode {
        if generation_id < 0 && who.member_id.is_empty() {
            // A commit from outside the group protocol (manual assignment).
            return if self.members.is_empty() {
                ErrorCode::None
            } else {
                ErrorCode::UnknownMemberId
            };
        }
        if let Err(error) = self.check_member(who) {
            return error;
        }
        if generation_id != self.generation {
            return ErrorCode::IllegalGeneration;
        }
        if self.state == GroupState::CompletingRebalance {
            return ErrorCode::RebalanceInProgress;
        }
        if let Some(member) = self.member_mut(&who.member_id) {
            member.last_heard_ms = now;
        }
        ErrorCode::None
    }

    /// Records a durable commit (a later log position wins).
    pub fn apply_commit(&mut self, topic: String, partition: i32, committed: CommittedOffset) {
        let key = (topic, partition);
        if self
            .offsets
            .get(&key)
            .is_some_and(|existing| existing.log_offset > committed.log_offset)
        {
            return;
        }
        self.offsets.insert(key, committed);
    }

    /// Committed offsets that have expired: for a group that became empty more than the
    /// retention ago, all of them; for a group that never had members (manual commits), those
    /// committed more than the retention ago. Removes and returns their keys.
    pub fn expire_offsets(&mut self, retention_ms: i64, now: Ms) -> Vec<(String, i32)> {
        if self.state != GroupState::Empty {
            return Vec::new();
        }
        let cutoff = now.saturating_sub(retention_ms);
        let expired: Vec<(String, i32)> = match &self.protocol_type {
            Some(_) if self.state_since_ms <= cutoff => self.offsets.keys().cloned().collect(),
            Some(_) => Vec::new(),
            None => self
                .offsets
                .iter()
                .filter(|(_, committed)| committed.commit_timestamp_ms <= cutoff)
                .map(|(key, _)| key.clone())
                .collect(),
        };
        for key in &expired {
            self.offsets.remove(key);
        }
        expired
    }

    /// Whether the group holds nothing worth keeping.
    pub fn is_forgettable(&self) -> bool {
        self.state == GroupState::Empty
            && self.offsets.is_empty()
            && self.pending.is_empty()
            && self.commits_in_flight == 0
    }

    /// The topics the members subscribe to (consumer protocol), for OffsetDelete.
    pub fn subscribed_topics(&self) -> Vec<String> {
        if self.protocol_type.as_deref() != Some("consumer") {
            return Vec::new();
        }
        let protocol = self.protocol.clone().unwrap_or_default();
        let mut topics = Vec::new();
        for member in &self.members {
            topics.extend(super::log::subscription_topics(&member.metadata(&protocol)));
        }
        topics.sort();
        topics.dedup();
        topics
    }
}

#[cfg(test)]
mod tests;
