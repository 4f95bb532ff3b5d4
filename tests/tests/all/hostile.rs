//! Hostile policies fail closed with a precise error, in bounded time, and
//! the engine keeps serving: a normal decision succeeds right after each.

use crate::{engine, load};
use rampart_engine::{Allocation, Engine, Failure, Limits, Policy, PolicyError, fail_closed};
use rampart_facts::{Answer, Eligibility};
use rampart_tests::{HOSTILE, MINIMAL, NOW, device, release, rollout};
use std::time::{Duration, Instant};

/// Generous bound that only a hang would exceed (not a speed assertion).
const HANG: Duration = Duration::from_secs(30);

fn ask(policy: &Policy, id: &str) -> Result<Eligibility, PolicyError> {
    policy.eligibility(&rollout(), NOW, &release(), &device(id)).map(|e| e.answer)
}

fn attack(policy: &Policy, id: &str) -> Failure {
    let start = Instant::now();
    let err = ask(policy, id).expect_err("the attack must fail");
    assert!(start.elapsed() < HANG, "{id}: took {:?}", start.elapsed());
    assert_eq!(err.policy, policy.digest(), "the error names the policy");
    assert!(err.to_string().contains(&policy.digest().to_string()), "{err}");
    // Fail closed: the caller's answer is a deny naming the cause.
    let closed = fail_closed::eligibility(&err);
    assert_eq!(closed.name(), "deny");
    assert_eq!(closed.reason().unwrap().code, err.failure.code());
    // And the engine still serves.
    assert_eq!(ask(policy, "gw-ok").expect("normal decision after attack"), Eligibility::Allow);
    err.failure
}

fn hostile() -> (Engine, Policy) {
    let engine = engine();
    let policy = load(&engine, HOSTILE);
    (engine, policy)
}

#[test]
fn endless_loop_runs_out_of_fuel() {
    let (engine, policy) = hostile();
    let f = attack(&policy, "loop");
    assert_eq!(f, Failure::OutOfFuel { budget: engine.limits().fuel });
}

#[test]
fn endless_loop_hits_the_deadline_when_fuel_is_plenty() {
    let limits = Limits { fuel: u64::MAX / 2, deadline: Duration::from_millis(200), ..Limits::default() };
    let engine = Engine::builder().limits(limits).build().unwrap();
    let policy = load(&engine, HOSTILE);
    let f = attack(&policy, "loop");
    assert_eq!(f, Failure::Timeout { deadline: Duration::from_millis(200) });
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    let (engine, policy) = hostile();
    let f = attack(&policy, "memory-bomb");
    assert_eq!(f, Failure::OutOfMemory { limit: engine.limits().max_memory_bytes });
}

#[test]
fn deep_recursion_overflows_the_stack() {
    let (_engine, policy) = hostile();
    let f = attack(&policy, "recurse-native");
    assert_eq!(f, Failure::StackOverflow);
}

#[test]
fn deep_recursion_in_linear_memory_traps() {
    // Rust keeps address-taken locals on a stack inside linear memory; running
    // off its end is an out-of-bounds access, caught like any other.
    let (_engine, policy) = hostile();
    match attack(&policy, "recurse-shadow") {
        Failure::Trap { message } => assert!(message.contains("out of bounds memory access"), "{message}"),
        other => panic!("wrong failure: {other}"),
    }
}

#[test]
fn panic_is_a_trap_that_names_the_panic() {
    let (_engine, policy) = hostile();
    match attack(&policy, "panic") {
        Failure::Trap { message } => {
            assert!(message.contains("unreachable"), "{message}");
            assert!(message.contains("policy bug on purpose"), "{message}");
        }
        other => panic!("wrong failure: {other}"),
    }
}

#[test]
fn panic_without_wasi_is_named_too() {
    // Built as `rampart policy build` builds Rust: no stderr; the SDK logs
    // the panic before the trap.
    let engine = engine();
    let policy = load(&engine, rampart_tests::HOSTILE_PURE);
    match attack(&policy, "panic") {
        Failure::Trap { message } => {
            assert!(message.contains("unreachable"), "{message}");
            assert!(message.contains("policy bug on purpose"), "{message}");
        }
        other => panic!("wrong failure: {other}"),
    }
}

#[test]
fn hundred_megabyte_reason_is_invalid_output() {
    // Enough fuel to build the string, so the output check is what stops it.
    let limits = Limits { fuel: 2_000_000_000, deadline: Duration::from_secs(20), ..Limits::default() };
    let engine = Engine::builder().limits(limits).build().unwrap();
    let policy = load(&engine, HOSTILE);
    match attack(&policy, "huge-reason") {
        Failure::InvalidOutput { cause } => assert!(cause.contains("104857600 bytes"), "{cause}"),
        other => panic!("wrong failure: {other}"),
    }
}

#[test]
fn malformed_reason_code_is_invalid_output() {
    let (_engine, policy) = hostile();
    match attack(&policy, "bad-code") {
        Failure::InvalidOutput { cause } => assert!(cause.contains("Not Kebab Case!"), "{cause}"),
        other => panic!("wrong failure: {other}"),
    }
}

#[test]
fn deferral_into_the_past_is_invalid_output() {
    let (_engine, policy) = hostile();
    assert!(matches!(attack(&policy, "defer-past"), Failure::InvalidOutput { .. }));
}

#[test]
fn deferral_past_any_date_the_host_can_write_is_invalid_output() {
    let (_engine, policy) = hostile();
    let expected = "defer until 9223372036854775807 s after the epoch is after 9999-12-31T23:59:59Z";
    match attack(&policy, "defer-forever") {
        Failure::InvalidOutput { cause } => assert_eq!(cause, expected),
        other => panic!("wrong failure: {other}"),
    }
    let err = policy.eligibility_batch(&rollout(), NOW, &release(), &[device("defer-forever")]).unwrap_err();
    assert!(matches!(&err.failure, Failure::InvalidOutput { cause } if cause == expected), "{err}");
}

#[test]
fn huge_list_from_a_batch_is_invalid_output() {
    let (_engine, policy) = hostile();
    let start = Instant::now();
    let err = policy.eligibility_batch(&rollout(), NOW, &release(), &[device("huge-list")]).expect_err("must fail");
    assert!(start.elapsed() < HANG);
    match err.failure {
        Failure::InvalidOutput { cause } => {
            assert!(cause.contains("1 devices answered with 100000 decisions"), "{cause}")
        }
        other => panic!("wrong failure: {other}"),
    }
    let ok = policy.eligibility_batch(&rollout(), NOW, &release(), &[device("a"), device("b")]).unwrap();
    assert_eq!(ok, vec![Eligibility::Allow, Eligibility::Allow]);
}

#[test]
fn log_flood_is_capped_and_counted() {
    let (engine, policy) = hostile();
    let eval = policy
        .eligibility(&rollout(), NOW, &release(), &device("log-flood"))
        .expect("a flood of logs is not a failure");
    assert_eq!(eval.answer, Eligibility::Allow);
    assert_eq!(eval.audit.log.len(), engine.limits().max_log_lines);
    assert_eq!(eval.audit.log_dropped, 10_000 - engine.limits().max_log_lines as u64);
}

#[test]
fn stdout_and_stderr_are_captured_into_the_log() {
    let (_engine, policy) = hostile();
    let eval = policy.eligibility(&rollout(), NOW, &release(), &device("print")).unwrap();
    let lines: Vec<_> = eval.audit.log.iter().map(|l| (l.level, l.message.as_str())).collect();
    use rampart_facts::LogLevel::{Stderr, Stdout};
    assert_eq!(lines, vec![(Stdout, "hello from stdout"), (Stderr, "hello from stderr")]);
}

#[test]
fn wasi_gives_nothing_real() {
    let (_engine, policy) = hostile();
    let seen = |p: &Policy| match ask(p, "wasi-probe").unwrap() {
        Eligibility::Deny { reason } => reason.message.clone(),
        other => panic!("{other:?}"),
    };
    let first = seen(&policy);
    let fields: std::collections::HashMap<&str, &str> = first.split(';').filter_map(|kv| kv.split_once('=')).collect();
    assert!(fields["file"].starts_with("err"), "no file reads: {first}");
    assert!(fields["dir"].starts_with("err"), "no directory listing: {first}");
    assert_eq!(fields["env"], "0", "no environment: {first}");
    assert_eq!(fields["args"], "0", "no arguments: {first}");
    assert_eq!(fields["clock"], NOW.0.to_string(), "the clock is frozen at now: {first}");
    assert_eq!(fields["random"].len(), 16, "random bytes are served: {first}");
    // Random is seeded by policy and inputs: same question, same bytes.
    assert_eq!(seen(&policy), first);
    let other_engine = engine();
    assert_eq!(seen(&load(&other_engine, HOSTILE)), first);
}

#[test]
fn rollout_gate_loop_fails_closed_as_pause() {
    let (_engine, policy) = hostile();
    let mut r = rollout();
    r.id = "loop".into();
    let err = policy.rollout_gate(&r, NOW, &release()).expect_err("loops");
    assert!(matches!(err.failure, Failure::OutOfFuel { .. }));
    assert_eq!(fail_closed::rollout_gate(&err).name(), "pause");
    assert_eq!(fail_closed::health_gate(&err).name(), "rollback");
}

/// The limits on instances, tables and table elements hold while a
/// policy's instance is made (the on-demand allocator; the pooling one
/// refuses such a policy when it is loaded): asking fails closed, naming
/// the limit.
#[test]
fn instance_and_table_limits_refuse_the_instance() {
    let d = Limits::default();
    for (want, limits) in [
        ("table limit of 1 elements exceeded", Limits { max_table_elements: 1, ..d }),
        ("instance count too high", Limits { max_instances: 0, ..d }),
        ("table count too high", Limits { max_tables: 0, ..d }),
    ] {
        let engine = Engine::builder().limits(limits).allocation(Allocation::OnDemand).build().expect("an engine");
        let policy = load(&engine, MINIMAL);
        match ask(&policy, "gw-1").expect_err(want).failure {
            Failure::Instantiate { cause } => assert!(cause.contains(want), "{want}: {cause}"),
            other => panic!("{want}: wrong failure: {other}"),
        }
    }
    let limits = Limits { max_table_elements: 1, ..d };
    let pooling = Engine::builder().limits(limits).build().expect("an engine");
    let bytes = std::fs::read(MINIMAL).expect("the policy");
    let refused = pooling.load_bytes("minimal.wasm", &bytes).err().expect("refused at load").to_string();
    assert!(refused.contains("exceeds the limit of 1"), "{refused}");
}

#[test]
fn exiting_is_a_trap_that_says_so() {
    let (_engine, policy) = hostile();
    match attack(&policy, "exit") {
        // WASI p2's `exit` carries success or failure only.
        Failure::Trap { message } => assert_eq!(message, "the policy exited (status 1)"),
        other => panic!("wrong failure: {other}"),
    }
}

#[test]
fn many_attacks_in_a_row_leave_the_engine_serving() {
    let (_engine, policy) = hostile();
    for round in 0..3 {
        for id in ["loop", "memory-bomb", "recurse-native", "recurse-shadow", "panic", "exit", "bad-code"] {
            assert!(ask(&policy, id).is_err(), "round {round}: {id}");
        }
    }
    assert_eq!(ask(&policy, "gw-ok").unwrap(), Eligibility::Allow);
}

/// A policy that answers a batch with `answers` (its bytes at `at`, `len`
/// answers named) and no reasons: a core module written by hand, so it can
/// return what no SDK would, made a component of the `policy` world (the
/// world read back from a built guest). Its other questions answer from
/// zeroed memory.
fn batch_answering(answers: &[u8], at: u32, len: u32) -> Vec<u8> {
    let text = |bytes: &[u8]| bytes.iter().map(|b| format!("\\{b:02x}")).collect::<String>();
    let q = "rampart:policy/questions@0.3.0";
    let wat = format!(
        r#"(module
          (memory (export "memory") 2)
          (global $heap (mut i32) (i32.const 4096))
          (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
            (local $p i32)
            (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
            (global.set $heap (i32.add (local.get $p) (local.get 3)))
            (local.get $p))
          (func (export "{q}#eligibility") (param i32) (result i32) (i32.const 2048))
          (func (export "{q}#eligibility-batch") (param i32) (result i32) (i32.const 0))
          (func (export "{q}#health-gate") (param i32) (result i32) (i32.const 2048))
          (func (export "{q}#rollout-gate") (param i32) (result i32) (i32.const 2048))
          ;; batch-answers: no reasons (ptr 0, len 0), then the answers' list.
          (data (i32.const 8) "{at}{len}")
          (data (i32.const 1024) "{answers}"))"#,
        at = text(&at.to_le_bytes()),
        len = text(&len.to_le_bytes()),
        answers = text(answers),
    );
    let mut module = wat::parse_str(&wat).expect("the module's text");
    let guest = std::fs::read(rampart_tests::HOSTILE_PURE).expect("the pure hostile guest");
    let wit_component::DecodedWasm::Component(resolve, world) = wit_component::decode(&guest).expect("its world")
    else {
        panic!("{} is not a component", rampart_tests::HOSTILE_PURE);
    };
    wit_component::embed_component_metadata(&mut module, &resolve, world, wit_component::StringEncoding::UTF8)
        .expect("the world embedded");
    let mut encoder = wit_component::ComponentEncoder::default();
    encoder.module(&module).expect("a core module").validate(true);
    encoder.encode().expect("a component")
}

/// A batch's answers are read from the policy's memory by the host itself:
/// what it reads there is checked as wasmtime checks a list, and a policy
/// that writes a malformed list gets a precise error, not a decision.
#[test]
fn malformed_batch_answers_fail_closed() {
    let engine = engine();
    let devices = [device("gw-1")];
    let ask = |component: Vec<u8>| {
        let policy = engine.load_bytes("hand-written.wasm", &component).expect("loads");
        let start = Instant::now();
        let answer = policy.eligibility_batch(&rollout(), NOW, &release(), &devices);
        assert!(start.elapsed() < HANG);
        answer.map_err(|e| {
            assert_eq!(e.policy, policy.digest(), "the error names the policy");
            e.failure.to_string()
        })
    };
    // Every refusal is the policy's invalid output, whoever found it:
    // wasmtime lifting the list, or the host's checks of what it read.
    let ask = |component| {
        ask(component).map_err(|e| {
            assert!(e.starts_with("invalid output: "), "{e}");
            e
        })
    };
    // The harness itself: a well-formed allow is read back.
    let mut answer = [0u8; 24];
    assert_eq!(ask(batch_answering(&answer, 1024, 1)).unwrap(), [Eligibility::Allow]);
    // A deny naming reason 0 of none: read, then refused by the checks.
    answer[0] = 1;
    let named_nothing = ask(batch_answering(&answer, 1024, 1)).unwrap_err();
    assert!(named_nothing.contains("reason 0 of 0 named"), "{named_nothing}");

    for (case, answers, at, len, want) in [
        ("unknown case", [7u8; 24], 1024, 1, "unexpected discriminant: 7"),
        ("past the end of memory", [0; 24], 2 * 65536 - 16, 1, "out of bounds"),
        ("a length that overflows", [0; 24], 1024, u32::MAX, "out of bounds"),
        ("misaligned", [0; 24], 1028, 1, "not aligned"),
        ("two answers for a batch of one", [0; 24], 1024, 2, "batch of 1 devices answered with 2"),
    ] {
        let err = ask(batch_answering(&answers, at, len)).expect_err(case);
        assert!(err.contains(want), "{case}: {err}");
    }
    // The engine still serves.
    let policy = load(&engine, HOSTILE);
    let normal = policy.eligibility_batch(&rollout(), NOW, &release(), &[device("gw-ok")]);
    assert_eq!(normal.expect("a normal batch"), [Eligibility::Allow]);
}
