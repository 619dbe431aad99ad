//! Route graphs: validation, conditions, splits, budgets and the walk.

use serde_json::{Map, Value, json};

use super::*;
use crate::config::Config;
use crate::error::ErrorKind;
use crate::store::MemoryStore;

fn routes(v: Value) -> Routes {
    parse_routes(&v).unwrap_or_else(|e| panic!("{e}"))
}

/// A router and the store its budgets count in.
struct Fixture {
    router: Router,
    store: MemoryStore,
}

impl Fixture {
    fn walk<'a>(
        &'a self,
        name: &str,
        facts: RequestFacts<'a>,
    ) -> crate::error::Result<RouteWalk<'a>> {
        self.router.walk(name, facts, &self.store)
    }
}

fn router(v: Value, seed: u64) -> Fixture {
    Fixture {
        router: Router::new(routes(v), Some(seed)),
        store: MemoryStore::default(),
    }
}

fn out(id: &str) -> Value {
    json!({ "elementId": id })
}

fn model(id: &str, provider: &str, name: &str, fallback: Option<&str>) -> Value {
    let mut outputs = json!({ "success": out("end") });
    if let Some(f) = fallback {
        outputs["fallback"] = out(f);
    }
    json!({"id": id, "type": "model",
           "properties": {"provider": provider, "model": name, "timeout": 2000, "retries": 1},
           "outputs": outputs})
}

fn start(next: &str) -> Value {
    json!({"id": "start", "type": "start", "outputs": {"next": out(next)}})
}

fn end() -> Value {
    json!({"id": "end", "type": "end"})
}

fn metadata(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// Walks `name` from the start and returns the first model chosen.
fn first_model(r: &Fixture, name: &str, facts: RequestFacts<'_>) -> Option<String> {
    r.walk(name, facts)
        .unwrap()
        .next(None)
        .unwrap()
        .map(|c| c.model)
}

// ---- validation ----

fn config_error(elements: Value) -> String {
    let text = json!({"routes": {"r1": {"elements": elements}}}).to_string();
    let e = Config::parse(Some(&text)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidConfig, "{}", e.message);
    e.message
}

#[test]
fn every_malformed_graph_is_refused_naming_route_and_element() {
    let m = || model("m", "openai", "gpt-4o-mini", None);
    let cases: Vec<(Value, &str)> = vec![
        // unknown element type
        (
            json!([start("x"), {"id": "x", "type": "teleport"}, end()]),
            "\"x\": unknown type",
        ),
        // unknown output
        (
            json!([{"id": "start", "type": "start", "outputs": {"next": out("m"), "later": out("end")}}, m(), end()]),
            "\"start\": unknown output \"later\"",
        ),
        // missing id
        (
            json!([start("m"), {"type": "end"}, m()]),
            "element 1 has no \"id\"",
        ),
        // duplicate id
        (json!([start("m"), m(), m(), end()]), "\"m\": duplicate id"),
        // no start
        (json!([m(), end()]), "no \"start\" element"),
        // several starts
        (
            json!([start("m"), {"id": "start2", "type": "start", "outputs": {"next": out("m")}}, m(), end()]),
            "\"start2\": a second \"start\"",
        ),
        // cycle
        (
            json!([start("a"),
                   {"id": "a", "type": "conditional", "properties": {"condition": {"model": "x"}},
                    "outputs": {"true": out("b"), "false": out("end")}},
                   model("b", "openai", "x", Some("a")), end()]),
            "cycle",
        ),
        // output to a missing id
        (
            json!([start("nowhere"), end()]),
            "\"start\": output \"next\" leads to a missing id \"nowhere\"",
        ),
        // percentages over 100
        (
            json!([start("p"), {"id": "p", "type": "percentage",
                   "outputs": {"60%": out("m"), "50%": out("end")}}, m(), end()]),
            "\"p\": percentages add up to 110%, over 100%",
        ),
        // more than five percentages
        (
            json!([start("p"), {"id": "p", "type": "percentage",
                   "outputs": {"10%": out("m"), "11%": out("m"), "12%": out("m"), "13%": out("m"),
                               "14%": out("m"), "15%": out("end")}}, m(), end()]),
            "\"p\": 6 percentage outputs, at most 5",
        ),
        // a model without provider / model
        (
            json!([start("m"), {"id": "m", "type": "model", "properties": {"model": "x"},
                   "outputs": {"success": out("end")}}, end()]),
            "\"m\": no properties.provider",
        ),
        (
            json!([start("m"), {"id": "m", "type": "model", "properties": {"provider": "openai"},
                   "outputs": {"success": out("end")}}, end()]),
            "\"m\": no properties.model",
        ),
        // a conditional missing an output, a bad operator
        (
            json!([start("c"), {"id": "c", "type": "conditional", "properties": {"condition": {"model": "x"}},
                   "outputs": {"true": out("end")}}, end()]),
            "\"c\": no \"false\" output",
        ),
        (
            json!([start("c"), {"id": "c", "type": "conditional",
                   "properties": {"condition": {"metadata.tier": {"$regex": "x"}}},
                   "outputs": {"true": out("end"), "false": out("end")}}, end()]),
            "\"c\": condition: metadata.tier: unknown operator \"$regex\"",
        ),
        // a rate limit without a limit type, retries out of range
        (
            json!([start("l"), {"id": "l", "type": "rate_limit",
                   "properties": {"limit": 1, "interval": 60}, "outputs": {"success": out("end")}}, end()]),
            "\"l\": properties.limitType",
        ),
        (
            json!([start("m"), {"id": "m", "type": "model",
                   "properties": {"provider": "openai", "model": "x", "retries": 9},
                   "outputs": {"success": out("end")}}, end()]),
            "\"m\": properties.retries",
        ),
        // percentages under 100 with no else
        (
            json!([start("p"), {"id": "p", "type": "percentage", "outputs": {"40%": out("m")}}, m(), end()]),
            "\"p\": percentages add up to 40%, under 100%",
        ),
    ];
    for (elements, expected) in cases {
        let message = config_error(elements.clone());
        assert!(message.contains("routes.r1"), "{message}");
        assert!(
            message.contains(expected),
            "expected {expected:?} in {message:?}"
        );
    }
    let e = Config::parse(Some(r#"{"routes": {"r": {"elements": [], "extra": 1}}}"#)).unwrap_err();
    assert!(e.message.contains("\"extra\""), "{}", e.message);
    assert!(Config::parse(Some(r#"{"routes": []}"#)).is_err());
}

#[test]
fn a_well_formed_route_parses_with_every_element_type() {
    let text = json!({"route_seed": 7, "routes": {"support": {"elements": [
        start("c"),
        {"id": "c", "type": "conditional", "properties": {"condition": {"metadata.plan": "paid"}},
         "outputs": {"true": out("p"), "false": out("l")}},
        {"id": "p", "type": "percentage", "outputs": {"10%": out("canary"), "else": out("main")}},
        {"id": "l", "type": "rate_limit",
         "properties": {"limitType": "count", "key": "metadata.user_id", "limit": 10, "interval": 3600, "technique": "sliding"},
         "outputs": {"success": out("main"), "fallback": out("cheap")}},
        model("canary", "openai", "gpt-5", Some("main")),
        model("main", "anthropic", "claude", Some("cheap")),
        model("cheap", "openai", "gpt-4o-mini", None),
        end()
    ]}}})
    .to_string();
    let c = Config::parse(Some(&text)).unwrap();
    assert_eq!(c.route_seed, Some(7));
    let route = &c.routes["support"];
    assert_eq!(route.elements.len(), 8);
    assert_eq!(route.elements[route.start].id, "start");
    // Equal configs compare equal (the config is compared as a whole).
    assert_eq!(c, Config::parse(Some(&text)).unwrap());
}

// ---- conditions ----

fn cond(v: Value) -> Condition {
    Condition::parse(&v).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn conditions_over_metadata_and_request_fields() {
    let meta = metadata(json!({"plan": "paid", "tier": 3, "beta": true, "user_id": "u1"}));
    let body = json!({"model": "dynamic/support", "stream": true, "max_tokens": 100,
                      "response_format": {"type": "json_object"}});
    let f = RequestFacts {
        metadata: Some(&meta),
        body: Some(&body),
    };
    let holds = |v: Value| cond(v).eval(&f);
    assert!(holds(json!({"metadata.plan": "paid"})));
    assert!(holds(json!({"metadata.plan": {"$eq": "paid"}})));
    assert!(!holds(json!({"metadata.plan": {"$ne": "paid"}})));
    assert!(holds(json!({"metadata.tier": {"$gte": 3, "$lt": 4}})));
    assert!(!holds(json!({"metadata.tier": {"$gt": 3}})));
    assert!(holds(json!({"metadata.tier": {"$lte": 3.0}})));
    assert!(
        holds(json!({"metadata.tier": 3.0})),
        "numbers compare by value"
    );
    assert!(holds(json!({"metadata.plan": {"$in": ["free", "paid"]}})));
    assert!(!holds(json!({"metadata.plan": {"$nin": ["free", "paid"]}})));
    assert!(holds(json!({"metadata.plan": {"$nin": ["free"]}})));
    assert!(holds(json!({"stream": true, "model": "dynamic/support"})));
    assert!(holds(json!({"max_tokens": {"$gt": 50}})));
    assert!(holds(json!({"response_format.type": "json_object"})));
    assert!(
        holds(json!({"metadata.user_id": {"$gt": "u0"}})),
        "strings compare byte-wise"
    );
    // Nested $and / $or.
    assert!(holds(json!({"$or": [
        {"metadata.plan": "free"},
        {"$and": [{"metadata.beta": true}, {"metadata.tier": {"$in": [2, 3]}}]}
    ]})));
    assert!(!holds(json!({"$and": [
        {"metadata.plan": "paid"},
        {"$or": [{"metadata.beta": false}, {"stream": false}]}
    ]})));
    // Several entries are all required.
    assert!(!holds(json!({"metadata.plan": "paid", "stream": false})));
}

#[test]
fn missing_fields_and_type_mismatches() {
    let meta = metadata(json!({"tier": "3", "beta": "true"}));
    let f = RequestFacts {
        metadata: Some(&meta),
        body: None,
    };
    let holds = |v: Value| cond(v).eval(&f);
    // Missing: only $ne and $nin hold.
    assert!(!holds(json!({"metadata.plan": "paid"})));
    assert!(holds(json!({"metadata.plan": {"$ne": "paid"}})));
    assert!(holds(json!({"metadata.plan": {"$nin": ["paid"]}})));
    assert!(!holds(json!({"metadata.plan": {"$in": ["paid"]}})));
    assert!(!holds(json!({"metadata.plan": {"$lt": "z"}})));
    assert!(
        !holds(json!({"model": "x"})),
        "no body: request fields are missing"
    );
    assert!(holds(json!({"stream": {"$ne": true}})));
    // A string "3" is not the number 3 and does not order against it.
    assert!(!holds(json!({"metadata.tier": 3})));
    assert!(holds(json!({"metadata.tier": {"$ne": 3}})));
    assert!(!holds(json!({"metadata.tier": {"$gte": 1}})));
    assert!(!holds(json!({"metadata.tier": {"$lt": 10}})));
    assert!(!holds(json!({"metadata.beta": true})));
    // No metadata at all.
    let none = RequestFacts::default();
    assert!(!cond(json!({"metadata.plan": "paid"})).eval(&none));
    assert!(cond(json!({"metadata.plan": {"$ne": "paid"}})).eval(&none));
}

#[test]
fn malformed_conditions_are_refused() {
    for bad in [
        json!([]),
        json!({}),
        json!({"$and": []}),
        json!({"$or": {"a": 1}}),
        json!({"$not": [{"a": 1}]}),
        json!({"a": {"$in": 3}}),
        json!({"a": {"$gt": true}}),
        json!({"a": {"$eq": 1, "$like": 2}}),
    ] {
        assert!(Condition::parse(&bad).is_err(), "{bad}");
    }
}

#[test]
fn a_conditional_picks_its_branch() {
    let r = router(
        json!({"tiers": {"elements": [
            start("c"),
            {"id": "c", "type": "conditional",
             "properties": {"condition": {"metadata.plan": {"$eq": "paid"}}},
             "outputs": {"true": out("big"), "false": out("small")}},
            model("big", "openai", "gpt-4o", None),
            model("small", "openai", "gpt-4o-mini", None),
            end()
        ]}}),
        1,
    );
    let paid = metadata(json!({"plan": "paid"}));
    let free = metadata(json!({"plan": "free"}));
    let facts = |m| RequestFacts {
        metadata: Some(m),
        body: None,
    };
    assert_eq!(
        first_model(&r, "tiers", facts(&paid)).as_deref(),
        Some("gpt-4o")
    );
    assert_eq!(
        first_model(&r, "tiers", facts(&free)).as_deref(),
        Some("gpt-4o-mini")
    );
    assert_eq!(
        first_model(&r, "tiers", RequestFacts::default()).as_deref(),
        Some("gpt-4o-mini")
    );
    let e = r.walk("nope", RequestFacts::default()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
}

// ---- splits ----

fn split_route() -> Value {
    json!({"ab": {"elements": [
        start("p"),
        {"id": "p", "type": "percentage", "outputs": {"30%": out("a"), "70%": out("b")}},
        model("a", "openai", "model-a", None),
        model("b", "openai", "model-b", None),
        end()
    ]}})
}

#[test]
fn a_30_70_split_holds_within_statistical_bounds() {
    for seed in [1, 2, 3] {
        let r = router(split_route(), seed);
        let n = 600;
        let a = (0..n)
            .filter(|_| {
                first_model(&r, "ab", RequestFacts::default()).as_deref() == Some("model-a")
            })
            .count();
        // Binomial(600, 0.3): mean 180, sd ~11.2; 5 sd either side.
        assert!((124..=236).contains(&a), "seed {seed}: {a} of {n} took 30%");
    }
}

#[test]
fn a_seed_makes_splits_reproducible_and_else_takes_the_rest() {
    let draws = |seed| {
        let r = router(split_route(), seed);
        (0..50)
            .map(|_| first_model(&r, "ab", RequestFacts::default()).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(draws(42), draws(42));
    assert_ne!(draws(42), draws(43));
    let r = router(
        json!({"canary": {"elements": [
            start("p"),
            {"id": "p", "type": "percentage", "outputs": {"10%": out("new"), "else": out("old")}},
            model("new", "openai", "new", None),
            model("old", "openai", "old", None),
            end()
        ]}}),
        9,
    );
    let news = (0..1000)
        .filter(|_| first_model(&r, "canary", RequestFacts::default()).as_deref() == Some("new"))
        .count();
    // Binomial(1000, 0.1): mean 100, sd ~9.5.
    assert!((52..=148).contains(&news), "{news}");
}

// ---- budgets ----

fn budget_route(limit_type: &str, limit: f64, fallback: bool) -> Value {
    let mut outputs = json!({"success": out("paid")});
    if fallback {
        outputs["fallback"] = out("cheap");
    }
    json!({"budget": {"elements": [
        start("l"),
        {"id": "l", "type": "rate_limit",
         "properties": {"limitType": limit_type, "key": "metadata.user_id", "limit": limit,
                        "interval": 86400, "technique": "fixed"},
         "outputs": outputs},
        model("paid", "openai", "gpt-4o", None),
        model("cheap", "openai", "gpt-4o-mini", None),
        end()
    ]}})
}

fn user(id: &str) -> Map<String, Value> {
    metadata(json!({ "user_id": id }))
}

fn as_user(m: &Map<String, Value>) -> RequestFacts<'_> {
    RequestFacts {
        metadata: Some(m),
        body: None,
    }
}

#[test]
fn count_budgets_are_per_user() {
    let r = router(budget_route("count", 2.0, true), 1);
    let (a, b) = (user("alice"), user("bob"));
    let pick = |m| first_model(&r, "budget", as_user(m)).unwrap();
    assert_eq!(pick(&a), "gpt-4o");
    assert_eq!(pick(&a), "gpt-4o");
    assert_eq!(pick(&a), "gpt-4o-mini", "alice's third request falls back");
    assert_eq!(pick(&b), "gpt-4o", "bob has his own budget");
    assert_eq!(pick(&b), "gpt-4o");
    assert_eq!(pick(&b), "gpt-4o-mini");
}

#[test]
fn cost_budgets_are_checked_before_and_charged_after() {
    let r = router(budget_route("cost", 1.0, true), 1);
    let (a, b) = (user("alice"), user("bob"));
    let spend = |m, cost| {
        let mut walk = r.walk("budget", as_user(m)).unwrap();
        let choice = walk.next(None).unwrap().unwrap();
        walk.next(Some(Outcome::Served)).unwrap();
        walk.settle(cost).unwrap();
        walk.settle(cost).unwrap(); // a second settle charges nothing
        choice.model
    };
    assert_eq!(spend(&a, 0.6), "gpt-4o");
    // 0.6 spent, below 1.0: still admitted, and this one's cost goes over.
    assert_eq!(spend(&a, 0.6), "gpt-4o");
    assert_eq!(spend(&a, 0.0), "gpt-4o-mini", "the budget is spent");
    assert_eq!(spend(&b, 0.6), "gpt-4o", "bob's budget is his own");
    // The cheap model is past the budget: its cost is not charged to it.
    assert_eq!(spend(&a, 5.0), "gpt-4o-mini");
    assert_eq!(spend(&b, 0.5), "gpt-4o");
    assert_eq!(spend(&b, 0.0), "gpt-4o-mini");
}

#[test]
fn a_budget_without_fallback_refuses_as_rate_limited() {
    let r = router(budget_route("count", 1.0, false), 1);
    let a = user("alice");
    assert!(
        r.walk("budget", as_user(&a))
            .unwrap()
            .next(None)
            .unwrap()
            .is_some()
    );
    let e = r
        .walk("budget", as_user(&a))
        .unwrap()
        .next(None)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::RateLimited);
    assert!(
        e.message.contains("route budget") && e.message.contains("element l"),
        "{}",
        e.message
    );
    assert!(e.message.contains("metadata.user_id"), "{}", e.message);
}

#[test]
fn concurrent_walks_admit_exactly_the_limit() {
    let r = router(budget_route("count", 100.0, true), 1);
    let a = user("alice");
    let admitted = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..40 {
                    if first_model(&r, "budget", as_user(&a)).as_deref() == Some("gpt-4o") {
                        admitted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(admitted.into_inner(), 100);
}

// ---- the walk ----

#[test]
fn model_fallbacks_are_followed_and_recorded() {
    let r = router(
        json!({"chain": {"elements": [
            start("first"),
            model("first", "openai", "gpt-4o", Some("second")),
            model("second", "anthropic", "claude-sonnet", Some("third")),
            model("third", "workers-ai", "@cf/meta/llama", None),
            end()
        ]}}),
        1,
    );
    let mut walk = r.walk("chain", RequestFacts::default()).unwrap();
    let first = walk.next(None).unwrap().unwrap();
    assert_eq!(
        first,
        ModelChoice {
            element: "first".into(),
            provider: "openai".into(),
            model: "gpt-4o".into(),
            timeout_ms: Some(2000),
            retries: 1,
        }
    );
    assert_eq!(first.max_attempts(), 2);
    assert!(walk.may_follow());
    let second = walk.next(Some(Outcome::Failed)).unwrap().unwrap();
    assert_eq!(
        (second.provider.as_str(), second.element.as_str()),
        ("anthropic", "second")
    );
    let third = walk.next(Some(Outcome::Failed)).unwrap().unwrap();
    assert_eq!(third.model, "@cf/meta/llama");
    assert!(!walk.may_follow(), "the last choice has no fallback");
    assert_eq!(walk.next(Some(Outcome::Failed)).unwrap(), None);
    assert_eq!(walk.taken(), ["start", "first", "second", "third"]);
    assert_eq!(
        walk.next(None).unwrap(),
        None,
        "a finished walk stays finished"
    );

    // A success ends the walk at the model's `success` output.
    let mut walk = r.walk("chain", RequestFacts::default()).unwrap();
    walk.next(None).unwrap();
    walk.next(Some(Outcome::Failed)).unwrap();
    assert_eq!(walk.next(Some(Outcome::Served)).unwrap(), None);
    assert_eq!(walk.taken(), ["start", "first", "second", "end"]);
    assert_eq!(
        walk.record(),
        RouteTaken {
            name: "chain".into(),
            elements: ["start", "first", "second", "end"]
                .map(String::from)
                .to_vec(),
        }
    );
    assert_eq!(walk.route_name(), "chain");
}

#[test]
fn a_budget_after_a_failed_model_is_evaluated_lazily() {
    // first fails -> budget (count 1, no fallback): the second request that
    // gets there is refused, but only once the first model has failed.
    let r = router(
        json!({"lazy": {"elements": [
            start("first"),
            model("first", "openai", "gpt-4o", Some("l")),
            {"id": "l", "type": "rate_limit",
             "properties": {"limitType": "count", "limit": 1, "interval": 60},
             "outputs": {"success": out("backup")}},
            model("backup", "openai", "gpt-4o-mini", None),
            end()
        ]}}),
        1,
    );
    for round in 0..3 {
        let mut walk = r.walk("lazy", RequestFacts::default()).unwrap();
        assert_eq!(walk.next(None).unwrap().unwrap().element, "first");
        let after = walk.next(Some(Outcome::Failed));
        match round {
            0 => assert_eq!(after.unwrap().unwrap().element, "backup"),
            _ => assert_eq!(after.unwrap_err().kind, ErrorKind::RateLimited),
        }
    }
    // Requests served by the first model never reach the budget.
    let mut walk = r.walk("lazy", RequestFacts::default()).unwrap();
    walk.next(None).unwrap();
    assert_eq!(walk.next(Some(Outcome::Served)).unwrap(), None);
}

#[test]
fn the_readme_example_route_is_valid_and_routes_as_described() {
    let readme = include_str!("../../README.md");
    let section = &readme[readme.find("## Dynamic routing").expect("section")..];
    let start = section.find("```json\n").expect("example") + "```json\n".len();
    let example = &section[start..start + section[start..].find("```").unwrap()];
    let config = Config::parse(Some(example)).unwrap_or_else(|e| panic!("{}", e.message));
    let r = Fixture {
        router: Router::new(config.routes.clone(), Some(5)),
        store: MemoryStore::default(),
    };
    let free = metadata(json!({"plan": "free", "user_id": "u-1"}));
    assert_eq!(
        first_model(&r, "support", as_user(&free)).as_deref(),
        Some("gpt-4o-mini")
    );
    let paid = metadata(json!({"plan": "paid", "user_id": "u-42"}));
    let (mut canary, mut large) = (0, 0);
    for _ in 0..200 {
        let mut walk = r.walk("support", as_user(&paid)).unwrap();
        let choice = walk.next(None).unwrap().unwrap();
        match choice.model.as_str() {
            "gpt-5" => canary += 1,
            "claude-sonnet-4-5" => {
                large += 1;
                walk.next(Some(Outcome::Served)).unwrap();
                walk.settle(0.5).unwrap();
            }
            "gpt-4o-mini" => {}
            other => panic!("{other}"),
        }
    }
    assert!((4..=40).contains(&canary), "{canary} canaries of 200");
    // $5 a day at $0.50 a request: ten large answers, then the small model.
    assert_eq!(large, 10);
    for _ in 0..20 {
        let mut walk = r.walk("support", as_user(&paid)).unwrap();
        let choice = walk.next(None).unwrap().unwrap();
        if choice.model == "gpt-5" {
            // A failed canary falls back through the budget.
            let next = walk.next(Some(Outcome::Failed)).unwrap().unwrap();
            assert_eq!(next.model, "gpt-4o-mini");
        } else {
            assert_eq!(choice.model, "gpt-4o-mini", "the budget is spent");
        }
    }
}

#[test]
fn many_threads_walk_one_route_and_splits_hold() {
    let r = router(split_route(), 11);
    let a = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..250 {
                    if first_model(&r, "ab", RequestFacts::default()).as_deref() == Some("model-a")
                    {
                        a.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    // Binomial(1000, 0.3): mean 300, sd ~14.5.
    let a = a.into_inner();
    assert!((228..=372).contains(&a), "{a} of 1000");
}

#[test]
fn route_headers_name_route_provider_and_model() {
    let choice = ModelChoice {
        element: "m".into(),
        provider: "anthropic".into(),
        model: "claude-sonnet-4-5".into(),
        timeout_ms: None,
        retries: 0,
    };
    assert_eq!(
        route_headers("support", &choice),
        [
            ("cf-aig-route".to_string(), "support".to_string()),
            ("cf-aig-provider".to_string(), "anthropic".to_string()),
            ("cf-aig-model".to_string(), "claude-sonnet-4-5".to_string()),
        ]
    );
}

#[test]
fn the_hosted_apis_other_spellings_are_accepted() {
    // A route as the hosted API returns it: with its id and name,
    // `conditions`, a budget `window` and numbers written as floats.
    let r = router(
        json!({"spelled": {"id": "r-1", "name": "spelled", "elements": [
            start("c"),
            {"id": "c", "type": "conditional",
             "properties": {"conditions": {"metadata.plan": {"$eq": "paid"}}},
             "outputs": {"true": out("l"), "false": out("m")}},
            {"id": "l", "type": "rate_limit",
             "properties": {"limitType": "count", "limit": 1.0, "window": 60.0},
             "outputs": {"success": out("m"), "fallback": out("end")}},
            {"id": "m", "type": "model",
             "properties": {"provider": "openai", "model": "gpt-4o", "timeout": 3000.0, "retries": 2.0},
             "outputs": {"success": out("end")}},
            end()
        ]}}),
        1,
    );
    let paid = metadata(json!({"plan": "paid"}));
    let mut walk = r.walk("spelled", as_user(&paid)).unwrap();
    let choice = walk.next(None).unwrap().unwrap();
    assert_eq!((choice.timeout_ms, choice.retries), (Some(3000), 2));
    assert_eq!(walk.taken(), ["start", "c", "l", "m"]);
    // The one-per-minute budget is spent: the fallback ends the walk.
    assert_eq!(
        r.walk("spelled", as_user(&paid))
            .unwrap()
            .next(None)
            .unwrap(),
        None
    );
    for both in [
        json!({"id": "c", "type": "conditional",
               "properties": {"condition": {"a": 1}, "conditions": {"a": 1}},
               "outputs": {"true": out("end"), "false": out("end")}}),
        json!({"id": "c", "type": "rate_limit",
               "properties": {"limitType": "count", "limit": 1, "interval": 60, "window": 60},
               "outputs": {"success": out("end")}}),
    ] {
        let message = config_error(json!([start("c"), both, end()]));
        assert!(message.contains("not both"), "{message}");
    }
    assert!(
        config_error(json!([start("m"), {"id": "m", "type": "model",
        "properties": {"provider": "openai", "model": "x", "timeout": 1.5},
        "outputs": {"success": out("end")}}, end()]))
        .contains("properties.timeout")
    );
}
