//! The Fluent Bit host emulation against small WAT modules (no dp-audit artifact
//! needed). Each module exports `f(tag, tag_len, sec, nsec, record, record_len) -> i32`.

// Test code: the crate's panic-free rules apply to the library, not to test helpers.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use dp_audit_harness::fluent_bit::{
    DropReason, FluentBitConfig, FluentBitHost, LogLevel, Outcome, RecordTime,
};

const T: RecordTime = RecordTime {
    sec: 1_700_000_000,
    nsec: 5,
};

fn config() -> FluentBitConfig {
    let mut config = FluentBitConfig::new("test.wat", "f");
    // Nothing preopened unless a test asks for it.
    config.accessible_paths = Vec::new();
    config
}

fn host_with(wat: &str, config: FluentBitConfig) -> FluentBitHost {
    FluentBitHost::from_bytes(config, wat.as_bytes()).expect("module loads")
}

fn host(wat: &str) -> FluentBitHost {
    host_with(wat, config())
}

const SIG: &str = "(param $tag i32) (param $tag_len i32) (param $sec i32) (param $nsec i32) \
                   (param $rec i32) (param $rec_len i32) (result i32)";

/// Returns the record copy after checking the NUL terminators the lengths exclude.
fn echo_wat() -> String {
    format!(
        r#"(module
          (memory (export "memory") 1)
          (func (export "f") {SIG}
            (if (i32.load8_u (i32.add (local.get $tag) (local.get $tag_len))) (then unreachable))
            (if (i32.load8_u (i32.add (local.get $rec) (local.get $rec_len))) (then unreachable))
            local.get $rec))"#
    )
}

#[test]
fn echo_returns_the_record_and_frees_the_copies() {
    let mut host = host(&echo_wat());
    let capacity = host.app_heap_capacity().unwrap();
    for record in [r#"{"a":1}"#, r#"{"msg":"h\u00e9llo","n":[1,2,3]}"#] {
        let report = host.process("dp.audit", T, record);
        assert_eq!(report.outcome, Outcome::Emitted(record.to_owned()));
        // The heap is appended after the module's one initial page.
        assert_eq!(report.tag_ptr, 65_536 + 8);
        assert_eq!(report.record_ptr, 65_536 + 8 + 16);
    }
    assert_eq!(host.app_heap_capacity(), Some(capacity));
    assert!(host.take_log().iter().all(|l| l.level != LogLevel::Error));
}

#[test]
fn run_lines_checks_lines_before_the_module_sees_them() {
    use dp_audit_harness::artifact::{run_lines, LineOutcome};
    use dp_audit_harness::jsonl::LineError;
    let mut host = host(&echo_wat());
    let lines: [&[u8]; 4] = [b"{\"a\":1}\r", b"", b"[1]", b"{\"b\":\"\xff\"}"];
    let outcomes = run_lines(&mut host, "t", lines);
    assert_eq!(outcomes[0].emitted(), Some("{\"a\":1}"));
    assert_eq!(outcomes[1], LineOutcome::Blank);
    assert_eq!(outcomes[2], LineOutcome::Rejected(LineError::NotJsonObject));
    assert_eq!(outcomes[3], LineOutcome::Rejected(LineError::InvalidUtf8));
    assert_eq!(host.records(), 1, "rejected lines never reach the module");
}

#[test]
fn empty_string_drops_the_record() {
    let wat = format!(
        r#"(module
          (memory (export "memory") 1)
          (data (i32.const 16) "\00")
          (func (export "f") {SIG} i32.const 16))"#
    );
    let mut host = host(&wat);
    let report = host.process("t", T, r#"{"a":1}"#);
    assert_eq!(report.outcome, Outcome::Dropped(DropReason::Empty));
}

#[test]
fn non_object_results_are_logged_and_dropped() {
    // Tag length selects the answer: 1 -> array, 2 -> two objects, 3 -> object + junk,
    // 4 -> broken JSON.
    let wat = format!(
        r#"(module
          (memory (export "memory") 1)
          (data (i32.const 100) "[1,2]\00")
          (data (i32.const 200) "{{\"a\":1}}{{\"b\":2}}\00")
          (data (i32.const 300) " {{\"a\":1}} junk\00")
          (data (i32.const 400) "{{\"a\":\00")
          (func (export "f") {SIG}
            (i32.mul (local.get $tag_len) (i32.const 100))))"#
    );
    let mut host = host(&wat);
    let report = host.process("a", T, "{}");
    assert_eq!(report.outcome, Outcome::Dropped(DropReason::NotJsonObject));
    let log = host.take_log();
    assert!(
        log.iter()
            .any(|l| l.level == LogLevel::Error
                && l.message.starts_with("invalid JSON format. ret: 0")),
        "{log:?}"
    );
    // The log never shows the module's output.
    assert!(log.iter().all(|l| !l.message.contains("[1,2]")));

    assert_eq!(
        host.process("ab", T, "{}").outcome,
        Outcome::Corrupted { values: 2 }
    );
    // Leading whitespace and trailing junk are ignored, as yyjson does.
    assert_eq!(
        host.process("abc", T, "{}").outcome,
        Outcome::Emitted(r#"{"a":1}"#.to_owned())
    );
    assert_eq!(
        host.process("abcd", T, "{}").outcome,
        Outcome::Dropped(DropReason::NotJsonObject)
    );
    assert!(host
        .take_log()
        .iter()
        .any(|l| l.message.starts_with("invalid JSON format. ret: -1")));
}

#[test]
fn trap_drops_the_record_and_the_instance_keeps_its_state() {
    // A counter survives the trap on call 2; a "lock" taken before the trap on call 4
    // stays taken, so every later call traps (like a poisoned Mutex).
    let wat = format!(
        r#"(module
          (memory (export "memory") 1)
          (global $count (mut i32) (i32.const 0))
          (global $locked (mut i32) (i32.const 0))
          (data (i32.const 100) "{{\"n\":0}}\00")
          (func (export "f") {SIG}
            (if (global.get $locked) (then unreachable))
            (global.set $locked (i32.const 1))
            (global.set $count (i32.add (global.get $count) (i32.const 1)))
            (if (i32.eq (global.get $count) (i32.const 2)) (then
              (global.set $locked (i32.const 0))
              unreachable))
            (if (i32.eq (global.get $count) (i32.const 4)) (then
              (i32.div_u (i32.const 1) (i32.const 0))
              drop))
            (i32.store8 (i32.const 105) (i32.add (i32.const 48) (global.get $count)))
            (global.set $locked (i32.const 0))
            i32.const 100))"#
    );
    let mut host = host(&wat);
    assert_eq!(
        host.process("t", T, "{}").outcome,
        Outcome::Emitted(r#"{"n":1}"#.into())
    );
    assert_eq!(
        host.process("t", T, "{}").outcome,
        Outcome::Dropped(DropReason::Trap("unreachable".into()))
    );
    let log = host.take_log();
    assert!(log
        .iter()
        .any(|l| l.message == "Got exception running wasm code: Exception: unreachable"));
    assert_eq!(
        host.process("t", T, "{}").outcome,
        Outcome::Emitted(r#"{"n":3}"#.into())
    );
    assert_eq!(
        host.process("t", T, "{}").outcome,
        Outcome::Dropped(DropReason::Trap("integer divide by zero".into()))
    );
    for _ in 0..3 {
        assert_eq!(
            host.process("t", T, "{}").outcome,
            Outcome::Dropped(DropReason::Trap("unreachable".into()))
        );
    }
    // The app-heap copies were freed on the trap paths too.
    let report = host.process("t", T, "{}");
    assert_eq!(report.tag_ptr, 65_536 + 8);
}

#[test]
fn out_of_bounds_result_poisons_the_next_call_only() {
    // tag "bad": return an address past the end of memory.
    // tag "endx": write a non-NUL last byte and return its address (no terminator).
    // tag "pure!": return the counters without any host call.
    // otherwise: bump $before, call random_get, bump $after, report both counters.
    let wat = format!(
        r#"(module
          (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
          (memory (export "memory") 1)
          (global $before (mut i32) (i32.const 0))
          (global $after (mut i32) (i32.const 0))
          (data (i32.const 100) "{{\"b\":0,\"a\":0}}\00")
          (func (export "f") {SIG}
            (local $last i32)
            (if (i32.eq (local.get $tag_len) (i32.const 3)) (then
              (return (i32.const 0x7fffffff))))
            (if (i32.eq (local.get $tag_len) (i32.const 5)) (then
              (return (i32.const 100))))
            (if (i32.eq (local.get $tag_len) (i32.const 4)) (then
              (local.set $last (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1)))
              (i32.store8 (local.get $last) (i32.const 65))
              (return (local.get $last))))
            (global.set $before (i32.add (global.get $before) (i32.const 1)))
            (drop (call $random_get (i32.const 500) (i32.const 4)))
            (global.set $after (i32.add (global.get $after) (i32.const 1)))
            (i32.store8 (i32.const 105) (i32.add (i32.const 48) (global.get $before)))
            (i32.store8 (i32.const 111) (i32.add (i32.const 48) (global.get $after)))
            i32.const 100))"#
    );
    let mut host = host(&wat);
    assert_eq!(
        host.process("ok", T, "{}").outcome,
        Outcome::Emitted(r#"{"b":1,"a":1}"#.into())
    );
    assert_eq!(
        host.process("bad", T, "{}").outcome,
        Outcome::Dropped(DropReason::InvalidPointer)
    );
    assert!(host
        .take_log()
        .iter()
        .any(|l| l.level == LogLevel::Warn && l.message == "[wasm] returned value is invalid"));
    // WAMR left "out of bounds memory access" set: the next call fails right after its
    // first host call returns, so $after is not bumped.
    assert_eq!(
        host.process("ok", T, "{}").outcome,
        Outcome::Dropped(DropReason::Trap("out of bounds memory access".into()))
    );
    assert_eq!(
        host.process("ok", T, "{}").outcome,
        Outcome::Emitted(r#"{"b":3,"a":2}"#.into())
    );
    // Without any host call the poisoned call runs to its end and is still dropped.
    assert_eq!(
        host.process("bad", T, "{}").outcome,
        Outcome::Dropped(DropReason::InvalidPointer)
    );
    assert_eq!(
        host.process("pure!", T, "{}").outcome,
        Outcome::Dropped(DropReason::Trap("out of bounds memory access".into()))
    );
    assert_eq!(
        host.process("pure!", T, "{}").outcome,
        Outcome::Emitted(r#"{"b":3,"a":2}"#.into())
    );
    // No NUL before the end of linear memory is just as invalid.
    assert_eq!(
        host.process("endx", T, "{}").outcome,
        Outcome::Dropped(DropReason::InvalidPointer)
    );
}

/// Says whether the record pointer was null, and that the real length still came.
fn null_probe_wat() -> String {
    format!(
        r#"(module
          (memory (export "memory") 1)
          (data (i32.const 100) "{{\"null\":true}}\00")
          (data (i32.const 200) "{{\"null\":false}}\00")
          (func (export "f") {SIG}
            (if (i32.eqz (local.get $rec)) (then
              (if (i32.lt_u (local.get $rec_len) (i32.const 60000)) (then unreachable))
              (return (i32.const 100))))
            i32.const 200))"#
    )
}

fn record_of_len(len: usize) -> String {
    let filler = len - r#"{"p":""}"#.len();
    format!(r#"{{"p":"{}"}}"#, "x".repeat(filler))
}

#[test]
fn oversize_record_gets_a_null_pointer_with_its_real_length() {
    let tag = "dp.audit";
    let mut host = host(&null_probe_wat());
    let limit = host.max_record_len(tag.len()).unwrap();
    // "about 63 KiB with the default heap"
    assert_eq!(limit, 64_483);
    let fits = host.process(tag, T, &record_of_len(limit));
    assert_ne!(fits.record_ptr, 0);
    assert_eq!(fits.outcome, Outcome::Emitted(r#"{"null":false}"#.into()));
    let too_big = host.process(tag, T, &record_of_len(limit + 1));
    assert_eq!(too_big.record_ptr, 0);
    assert_eq!(too_big.outcome, Outcome::Emitted(r#"{"null":true}"#.into()));
    assert!(host
        .take_log()
        .iter()
        .any(|l| l.message == format!("warning: allocate {} bytes memory failed", limit + 2)));

    // 8192 or less is ignored: 8000 is still the default heap.
    let mut small = config();
    small.wasm_heap_size = 8000;
    let mut host = host_with(&null_probe_wat(), small);
    assert_eq!(host.max_record_len(tag.len()), Some(limit));
    assert_eq!(
        host.process(tag, T, &record_of_len(limit + 1)).record_ptr,
        0
    );

    // A larger heap takes the same record.
    let mut big = config();
    big.wasm_heap_size = 256_000;
    let mut host = host_with(&null_probe_wat(), big);
    let report = host.process(tag, T, &record_of_len(limit + 1));
    assert_ne!(report.record_ptr, 0);
    assert_eq!(report.outcome, Outcome::Emitted(r#"{"null":false}"#.into()));
}

#[test]
fn zero_return_reads_whatever_is_at_address_zero() {
    let mk = |byte0: &str| {
        format!(
            r#"(module
              (memory (export "memory") 1)
              (data (i32.const 0) "{byte0}")
              (func (export "f") {SIG} i32.const 0))"#
        )
    };
    // Zeroed memory: an empty string, the record is dropped "by luck".
    assert_eq!(
        host(&mk("\\00")).process("t", T, "{}").outcome,
        Outcome::Dropped(DropReason::Empty)
    );
    // Anything else at 0 is read as the result.
    assert_eq!(
        host(&mk("{}\\00")).process("t", T, "{}").outcome,
        Outcome::Emitted("{}".into())
    );
}

fn preopen_reader_wat() -> String {
    // Walks fds 3.. with fd_prestat_get, prints each preopen name on stdout, opens
    // "dp-audit.json" relative to each until one opens, returns its content.
    format!(
        r#"(module
          (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat_get (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $prestat_dir_name (param i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 2000) "dp-audit.json")
          (data (i32.const 2100) "{{\"found\":false}}\00")
          (func (export "f") {SIG}
            (local $fd i32) (local $len i32) (local $file i32)
            (local.set $fd (i32.const 3))
            (block $done
              (loop $next
                (br_if $done (call $prestat_get (local.get $fd) (i32.const 1000)))
                (local.set $len (i32.load (i32.const 1004)))
                (drop (call $prestat_dir_name (local.get $fd) (i32.const 1100) (local.get $len)))
                ;; name + "\n" to stdout
                (i32.store8 (i32.add (i32.const 1100) (local.get $len)) (i32.const 10))
                (i32.store (i32.const 1020) (i32.const 1100))
                (i32.store (i32.const 1024) (i32.add (local.get $len) (i32.const 1)))
                (drop (call $fd_write (i32.const 1) (i32.const 1020) (i32.const 1) (i32.const 1040)))
                (if (i32.eqz (call $path_open (local.get $fd) (i32.const 0) (i32.const 2000)
                                (i32.const 13) (i32.const 0) (i64.const 0x1fffffff)
                                (i64.const 0x1fffffff) (i32.const 0) (i32.const 1012)))
                  (then
                    (local.set $file (i32.load (i32.const 1012)))
                    (i32.store (i32.const 1020) (i32.const 3000))
                    (i32.store (i32.const 1024) (i32.const 4000))
                    (drop (call $fd_read (local.get $file) (i32.const 1020) (i32.const 1) (i32.const 1032)))
                    (drop (call $fd_close (local.get $file)))
                    (i32.store8 (i32.add (i32.const 3000) (i32.load (i32.const 1032))) (i32.const 0))
                    (return (i32.const 3000))))
                (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
                (br $next)))
            i32.const 2100))"#
    )
}

#[test]
fn module_discovers_its_preopens_under_their_host_names() {
    let empty = tempfile::tempdir().unwrap();
    let policy_dir = tempfile::tempdir().unwrap();
    let policy = r#"{"version":1,"fields":{}}"#;
    std::fs::write(policy_dir.path().join("dp-audit.json"), policy).unwrap();
    let mut cfg = config();
    cfg.accessible_paths = vec![
        empty.path().display().to_string(),
        policy_dir.path().display().to_string(),
    ];
    let mut host = host_with(&preopen_reader_wat(), cfg);
    assert_eq!(
        host.process("t", T, "{}").outcome,
        Outcome::Emitted(policy.to_owned())
    );
    let stdout = host.guest_output().take_stdout();
    assert_eq!(
        stdout,
        format!(
            "{}\n{}\n",
            empty.path().display(),
            policy_dir.path().display()
        )
    );
    // Drained: nothing new until the module writes again.
    assert_eq!(host.guest_output().take_stdout(), "");

    // Without the file in any preopen the module says so.
    let mut cfg = config();
    cfg.accessible_paths = vec![empty.path().display().to_string()];
    let mut host = host_with(&preopen_reader_wat(), cfg);
    assert_eq!(
        host.process("t", T, "{}").outcome,
        Outcome::Emitted(r#"{"found":false}"#.into())
    );
}

#[test]
fn missing_accessible_path_fails_like_wamr() {
    let mut cfg = config();
    cfg.accessible_paths = vec!["/nonexistent/dp-audit-harness-test".into()];
    let err = FluentBitHost::from_bytes(cfg, echo_wat().as_bytes())
        .err()
        .expect("must fail");
    assert!(err.to_string().contains("pre-opening"), "{err}");
}

/// Loops over the record bytes counting quotes, so the work depends on the input.
fn counting_wat() -> String {
    format!(
        r#"(module
          (memory (export "memory") 1)
          (global $seen (mut i32) (i32.const 0))
          (data (i32.const 100) "{{}}\00")
          (func (export "f") {SIG}
            (local $i i32)
            (block $done
              (loop $next
                (br_if $done (i32.ge_u (local.get $i) (local.get $rec_len)))
                (if (i32.eq (i32.load8_u (i32.add (local.get $rec) (local.get $i))) (i32.const 34))
                  (then (global.set $seen (i32.add (global.get $seen) (i32.const 1)))))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $next)))
            i32.const 100))"#
    )
}

#[test]
fn fuel_counts_instructions_deterministically() {
    let mut cfg = config();
    cfg.fuel = true;
    let run = |records: &[&str]| {
        let mut host = host_with(&counting_wat(), cfg.clone());
        records
            .iter()
            .map(|r| host.process("t", T, r).fuel.unwrap())
            .collect::<Vec<_>>()
    };
    let short = r#"{"a":1}"#;
    let long = r#"{"a":1,"bbbbbbbb":"cccccccccccccccccccc"}"#;
    let first = run(&[short, long, short]);
    let second = run(&[short, long, short]);
    assert_eq!(first, second);
    assert_eq!(first[0], first[2], "same input, same state, same count");
    assert!(
        first[1] > first[0],
        "longer record, more instructions: {first:?}"
    );
    // Per byte the loop runs a fixed number of instructions.
    let per_byte = (first[1] - first[0]) / (long.len() - short.len()) as u64;
    assert!((8..=30).contains(&per_byte), "{per_byte}");

    let mut host = host_with(&counting_wat(), cfg.clone());
    host.process("t", T, short);
    host.process("t", T, long);
    assert_eq!(host.fuel_total(), Some(first[0] + first[1]));
    // Without metering there is no count.
    assert_eq!(
        host_with(&counting_wat(), config())
            .process("t", T, short)
            .fuel,
        None
    );
}

#[test]
fn missing_function_drops_every_record() {
    let mut cfg = config();
    cfg.function_name = "dp_scrub".into();
    let mut host = host_with(&echo_wat(), cfg);
    assert!(!host.has_function());
    assert_eq!(
        host.process("t", T, "{}").outcome,
        Outcome::Dropped(DropReason::FunctionNotFound)
    );
    assert!(host
        .take_log()
        .iter()
        .any(|l| l.message == "The dp_scrub wasm function is not found."));
}

#[test]
fn wrong_signature_is_refused() {
    let wat = r#"(module (memory (export "memory") 1) (func (export "f") (param i32) (result i32) i32.const 0))"#;
    assert!(FluentBitHost::from_bytes(config(), wat.as_bytes()).is_err());
}

#[test]
fn unlinked_import_warns_and_traps_only_when_called() {
    let wat = format!(
        r#"(module
          (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 100) "{{}}\00")
          (func (export "f") {SIG}
            (if (i32.eq (local.get $tag_len) (i32.const 3)) (then
              (drop (call $log (i32.const 0) (i32.const 0) (i32.const 0)))))
            i32.const 100))"#
    );
    let mut host = host(&wat);
    assert!(host
        .take_log()
        .iter()
        .any(|l| l.message == "warning: failed to link import function (env, proxy_log)"));
    assert_eq!(
        host.process("t", T, "{}").outcome,
        Outcome::Emitted("{}".into())
    );
    assert_eq!(
        host.process("log", T, "{}").outcome,
        Outcome::Dropped(DropReason::Trap(
            "failed to call unlinked import function (env, proxy_log)".into()
        ))
    );
    assert_eq!(
        host.process("t", T, "{}").outcome,
        Outcome::Emitted("{}".into())
    );
}

#[test]
fn wasi_module_without_entry_point_gets_the_reactor_warning_and_initialize_runs() {
    let body = |extra: &str| {
        format!(
            r#"(module
              (import "wasi_snapshot_preview1" "random_get" (func $r (param i32 i32) (result i32)))
              (memory (export "memory") 1)
              (global $init (mut i32) (i32.const 0))
              (data (i32.const 100) "{{\"init\":0}}\00")
              {extra}
              (func (export "f") {SIG}
                (i32.store8 (i32.const 108) (i32.add (i32.const 48) (global.get $init)))
                i32.const 100))"#
        )
    };
    let mut plain = host(&body(""));
    assert!(plain.take_log().iter().any(|l| l
        .message
        .contains("should be either a command or a reactor")));
    assert_eq!(
        plain.process("t", T, "{}").outcome,
        Outcome::Emitted(r#"{"init":0}"#.into())
    );
    let mut reactor = host(&body(
        r#"(func (export "_initialize") (global.set $init (i32.const 1)))"#,
    ));
    assert!(reactor.take_log().is_empty());
    assert_eq!(
        reactor.process("t", T, "{}").outcome,
        Outcome::Emitted(r#"{"init":1}"#.into())
    );
}

#[test]
fn exported_malloc_replaces_the_app_heap() {
    // A bump allocator at 4096; free counts calls.
    let wat = format!(
        r#"(module
          (memory (export "memory") 1)
          (global $next (mut i32) (i32.const 4096))
          (global $frees (mut i32) (i32.const 0))
          (func (export "malloc") (param $n i32) (result i32)
            (local $p i32)
            (local.set $p (global.get $next))
            (global.set $next (i32.add (global.get $next) (local.get $n)))
            (local.get $p))
          (func (export "free") (param i32)
            (global.set $frees (i32.add (global.get $frees) (i32.const 1))))
          (func (export "f") {SIG} local.get $rec))"#
    );
    let mut host = host(&wat);
    assert_eq!(host.app_heap_capacity(), None);
    let pages = host.memory_size();
    let report = host.process("tag", T, r#"{"a":1}"#);
    assert_eq!(report.tag_ptr, 4096);
    assert_eq!(report.record_ptr, 4096 + 4);
    assert_eq!(report.outcome, Outcome::Emitted(r#"{"a":1}"#.into()));
    // No app heap pages were added.
    assert_eq!(pages, 65_536);
}

#[test]
fn guest_stderr_is_captured() {
    let wat = format!(
        r#"(module
          (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 100) "{{}}\00")
          (data (i32.const 200) "dp-audit: policy missing\n")
          (func (export "f") {SIG}
            (i32.store (i32.const 300) (i32.const 200))
            (i32.store (i32.const 304) (i32.const 25))
            (drop (call $w (i32.const 2) (i32.const 300) (i32.const 1) (i32.const 400)))
            i32.const 100))"#
    );
    let mut host = host(&wat);
    host.process("t", T, "{}");
    host.process("t", T, "{}");
    assert_eq!(
        host.guest_output().take_stderr(),
        "dp-audit: policy missing\ndp-audit: policy missing\n"
    );
    assert_eq!(host.guest_output().take_stdout(), "");
}

#[test]
fn deep_recursion_overflows_and_the_instance_survives() {
    let wat = format!(
        r#"(module
          (memory (export "memory") 1)
          (data (i32.const 100) "{{}}\00")
          (func $down (param $n i32) (result i32)
            (if (result i32) (i32.eqz (local.get $n))
              (then (i32.const 0))
              (else (i32.add (i32.const 1) (call $down (i32.sub (local.get $n) (i32.const 1)))))))
          (func (export "f") {SIG}
            (drop (call $down (local.get $rec_len)))
            i32.const 100))"#
    );
    let mut host = host(&wat);
    assert_eq!(
        host.process("t", T, "{}").outcome,
        Outcome::Emitted("{}".into())
    );
    let deep = record_of_len(20_000);
    assert_eq!(
        host.process("t", T, &deep).outcome,
        Outcome::Dropped(DropReason::Trap("wasm operand stack overflow".into()))
    );
    assert_eq!(
        host.process("t", T, "{}").outcome,
        Outcome::Emitted("{}".into())
    );
}
