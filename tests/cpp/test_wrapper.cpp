// Tests of include/aigw.hpp against the mock (run under scripts/with-mock.sh):
// send, Universal fallback, errors as exceptions, streaming with lambdas,
// stopping and throwing from a lambda, cancel from another thread, move
// semantics, concurrent sends.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "aigw.hpp"
#include "check.hpp"

using check::contains;
using Clock = std::chrono::steady_clock;

namespace {

const char* const kChat =
    R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]})";
const char* const kChatStream =
    R"({"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]})";

// Move-only RAII types, cheap and safe to move.
static_assert(!std::is_copy_constructible_v<aigw::Gateway>);
static_assert(!std::is_copy_assignable_v<aigw::Gateway>);
static_assert(!std::is_copy_constructible_v<aigw::Request>);
static_assert(!std::is_copy_constructible_v<aigw::Response>);
static_assert(!std::is_copy_assignable_v<aigw::Response>);
static_assert(!std::is_copy_constructible_v<aigw::Cancel>);
static_assert(std::is_nothrow_move_constructible_v<aigw::Gateway>);
static_assert(std::is_nothrow_move_assignable_v<aigw::Gateway>);
static_assert(std::is_nothrow_move_constructible_v<aigw::Request>);
static_assert(std::is_nothrow_move_assignable_v<aigw::Request>);
static_assert(std::is_nothrow_move_constructible_v<aigw::Response>);
static_assert(std::is_nothrow_move_assignable_v<aigw::Response>);
static_assert(std::is_nothrow_move_constructible_v<aigw::Cancel>);
static_assert(std::is_nothrow_move_assignable_v<aigw::Cancel>);
static_assert(std::is_base_of_v<std::runtime_error, aigw::Error>);

std::string mock_config(const std::string& extra = std::string()) {
    const std::string m = check::mock_url();
    return R"({"providers":{"openai":{"base_url":")" + m + R"(/v1"},)" +
           R"("custom-dead":{"base_url":"http://127.0.0.1:1/v1"}})" + extra + "}";
}

aigw::Request chat(const char* body = kChat, const char* mock = nullptr) {
    aigw::Request req("POST", "openai/chat/completions");
    req.set_header("Authorization", "Bearer sk-test").set_header("Content-Type", "application/json");
    if (mock != nullptr) {
        req.set_header("x-mock", mock);
    }
    req.set_body(body);
    return req;
}

void test_version() {
    check::section("version");
    CHECK(aigw::version() == AIGW_VERSION);
    CHECK(aigw::version() == std::to_string(aigw::version_major) + "." +
                                 std::to_string(aigw::version_minor) + "." +
                                 std::to_string(aigw::version_patch));
    CHECK(aigw::status_str(AIGW_ERR_CANCELLED).size() > 0);
}

void test_send(const aigw::Gateway& gw) {
    check::section("send to a provider endpoint");
    aigw::Response resp = gw.send(chat());
    CHECK(resp);
    CHECK(resp.status() == 200);
    CHECK(resp.step() == 0);
    CHECK(contains(resp.body(), "Hello from the aigw mock"));
    std::optional<std::string_view> ct = resp.header("CONTENT-type");
    CHECK(ct && contains(*ct, "application/json"));
    std::optional<std::string_view> path = resp.header("x-mock-path");
    CHECK(path && contains(*path, "chat/completions"));
    CHECK(!resp.header("x-no-such-header"));

    std::size_t n = 0;
    bool saw_count = false;
    for (aigw::Header h : resp.headers()) {
        ++n;
        CHECK(!h.name.empty());
        if (h.name == "x-mock-request-count" || h.name == "X-Mock-Request-Count") {
            saw_count = !h.value.empty();
        }
    }
    CHECK(n == resp.headers().size());
    CHECK(n > 0);
    CHECK(saw_count);
    CHECK(resp.headers()[0].name == (*resp.headers().begin()).name);
    EXPECT_ERROR(resp.headers()[n], AIGW_ERR_INVALID_ARGUMENT, {});

    // The same request may be sent again; an HTTP error is a Response.
    aigw::Request req = chat(kChat, "status=503");
    aigw::Response r1 = gw.send(req);
    aigw::Response r2 = gw.send(req);
    CHECK(r1.status() == 503);
    CHECK(r2.status() == 503);
    CHECK(contains(r2.body(), "mock status 503"));

    // A body with NUL bytes is fine (bytes, not a C string).
    aigw::Request echo("POST", "openai/echo");
    echo.set_header("x-mock", "echo").set_body(std::string_view("a\0b", 3));
    aigw::Response er = gw.send(echo);
    CHECK(er.status() == 200);
    CHECK(contains(er.body(), "a\\u0000b"));
}

void test_universal(const aigw::Gateway& gw) {
    check::section("Universal Endpoint: step 0 fails (503), step 1 serves");
    const std::string steps =
        std::string(R"([{"provider":"openai","endpoint":"chat/completions",)") +
        R"("headers":{"x-mock":"status=503"},"query":)" + kChat + "}," +
        R"({"provider":"openai","endpoint":"chat/completions","query":)" + kChat + "}]";
    aigw::Request req("POST", "");
    req.set_header("Content-Type", "application/json").set_body(steps);
    aigw::Response resp = gw.send(req);
    CHECK(resp.status() == 200);
    CHECK(resp.step() == 1);
    CHECK(resp.header("cf-aig-step") == std::optional<std::string_view>("1"));
    CHECK(contains(resp.body(), "Hello from the aigw mock"));
}

void test_errors(const aigw::Gateway& gw) {
    check::section("errors are aigw::Error with the status");
    EXPECT_ERROR(aigw::Gateway(R"({"no_such_key":1})"), AIGW_ERR_INVALID_CONFIG,
                 { CHECK(contains(e.what(), "no_such_key")); });
    EXPECT_ERROR(aigw::Gateway("{not json"), AIGW_ERR_INVALID_CONFIG, {});
    EXPECT_ERROR(aigw::Gateway(std::string_view("{}\0x", 4)), AIGW_ERR_INVALID_ARGUMENT, {});

    // Nothing listens on 127.0.0.1:1.
    aigw::Request dead("POST", "custom-dead/chat/completions");
    dead.set_body(kChat);
    EXPECT_ERROR(gw.send(dead), AIGW_ERR_CONNECT, { CHECK(contains(e.what(), "127.0.0.1")); });

    aigw::Request unknown("POST", "nosuchprovider/x");
    EXPECT_ERROR(gw.send(unknown), AIGW_ERR_UNKNOWN_PROVIDER,
                 { CHECK(contains(e.what(), "nosuchprovider")); });

    aigw::Request bad("POST", "openai/chat/completions");
    EXPECT_ERROR(bad.set_header("bad name", "v"), AIGW_ERR_INVALID_ARGUMENT, {});
    EXPECT_ERROR(bad.set_header("X-Ok", "line\r\nbreak"), AIGW_ERR_INVALID_ARGUMENT, {});
    EXPECT_ERROR(bad.set_header(std::string_view("X-Nul\0", 6), "v"), AIGW_ERR_INVALID_ARGUMENT,
                 { CHECK(contains(e.what(), "NUL")); });
    aigw::Request not_json("POST", "");
    not_json.set_body("not json");
    EXPECT_ERROR(gw.send(not_json), AIGW_ERR_INVALID_REQUEST, {});

    // Caught as std::runtime_error too, with the status still reachable.
    try {
        gw.send(unknown);
        CHECK(false && "no exception");
    } catch (const std::runtime_error& e) {
        const aigw::Error* ae = dynamic_cast<const aigw::Error*>(&e);
        CHECK(ae != nullptr && ae->status() == AIGW_ERR_UNKNOWN_PROVIDER);
    }
}

void test_stream(const aigw::Gateway& gw) {
    check::section("streaming with lambdas");
    std::vector<std::string> datas;
    std::size_t bytes = 0;
    int heads = 0;
    bool event_after_data = true;
    aigw::Response head = gw.send_stream(
        chat(kChatStream),
        [&](const aigw::Event& ev) {
            CHECK(ev.event == "message");
            event_after_data = event_after_data && bytes > 0;
            datas.emplace_back(ev.data);
        },
        [&](std::string_view chunk) { bytes += chunk.size(); },
        [&](const aigw::ResponseView& h) {
            ++heads;
            CHECK(h.status() == 200);
            std::optional<std::string_view> ct = h.header("content-type");
            CHECK(ct && contains(*ct, "text/event-stream"));
            return true;
        });
    CHECK(heads == 1);
    CHECKD(datas.size() == 6, std::to_string(datas.size()) + " events");
    int toks = 0;
    for (const std::string& d : datas) {
        toks += contains(d, "\"tok") ? 1 : 0;
    }
    CHECK(toks == 5);
    CHECK(!datas.empty() && datas.back() == "[DONE]");
    CHECK(bytes > 0);
    CHECK(event_after_data);
    CHECK(head.status() == 200);
    CHECK(head.body().empty());
    CHECK(head.header("content-type").has_value());

    check::section("streaming: std::function callbacks, only on_data, no callbacks");
    std::function<bool(const aigw::Event&)> on_event = [&](const aigw::Event&) { return true; };
    std::function<void(std::string_view)> on_data = [&](std::string_view) {};
    CHECK(gw.send_stream(chat(kChatStream), on_event, on_data).status() == 200);
    std::string raw;
    gw.send_stream(chat(kChatStream, "events=2"), nullptr,
                   [&raw](std::string_view chunk) { raw.append(chunk); });
    CHECK(contains(raw, "tok1") && !contains(raw, "tok2") && contains(raw, "[DONE]"));
    CHECK(gw.send_stream(chat(kChatStream), nullptr).status() == 200);
    // A Universal stream falls back before anything is delivered.
    const std::string steps =
        std::string(R"([{"provider":"openai","endpoint":"chat/completions",)") +
        R"("headers":{"x-mock":"stream,error_first"},"query":)" + kChatStream + "}," +
        R"({"provider":"openai","endpoint":"chat/completions","query":)" + kChatStream + "}]";
    aigw::Request ureq("POST", "");
    ureq.set_header("Content-Type", "application/json").set_body(steps);
    int uevents = 0;
    bool saw_error = false;
    aigw::Response uhead = gw.send_stream(ureq, [&](const aigw::Event& ev) {
        ++uevents;
        saw_error = saw_error || contains(ev.data, "mock stream error");
    });
    CHECK(uhead.step() == 1);
    CHECK(uevents == 6);
    CHECK(!saw_error);
}

struct Boom {
    int where;
};

void test_stream_stop(const aigw::Gateway& gw) {
    check::section("stopping a stream: return false -> AIGW_ERR_ABORTED");
    int events = 0;
    EXPECT_ERROR(gw.send_stream(chat(kChatStream),
                                [&](const aigw::Event&) { return ++events < 2; }),
                 AIGW_ERR_ABORTED, {});
    CHECK(events == 2);

    int chunks = 0;
    EXPECT_ERROR(gw.send_stream(chat(kChatStream), nullptr,
                                [&](std::string_view) { return ++chunks < 1; }),
                 AIGW_ERR_ABORTED, {});
    CHECK(chunks == 1);

    check::section("a throwing lambda: the exception comes out of send_stream, not through C");
    events = 0;
    int after = 0;
    try {
        gw.send_stream(
            chat(kChatStream),
            [&](const aigw::Event&) {
                if (++events == 3) {
                    throw Boom{3};
                }
            },
            [&](std::string_view) {
                if (events >= 3) {
                    ++after;  // no callback may run after the throw
                }
            });
        CHECK(false && "send_stream did not throw");
    } catch (const Boom& b) {
        CHECK(b.where == 3);
    } catch (...) {
        CHECK(false && "wrong exception type");
    }
    CHECK(events == 3);
    CHECK(after == 0);

    try {
        gw.send_stream(chat(kChatStream), nullptr, nullptr,
                       [](const aigw::ResponseView&) -> bool {
                           throw std::logic_error("from on_response");
                       });
        CHECK(false && "send_stream did not throw");
    } catch (const aigw::Error&) {
        CHECK(false && "an aigw::Error instead of the lambda's exception");
    } catch (const std::logic_error& e) {
        CHECK(std::string(e.what()) == "from on_response");
    }

    // An empty std::function throws std::bad_function_call the same way.
    std::function<void(std::string_view)> empty;
    try {
        gw.send_stream(chat(kChatStream), nullptr, empty);
        CHECK(false && "send_stream did not throw");
    } catch (const std::bad_function_call&) {
        CHECK(true);
    }

    // The gateway is still fine.
    CHECK(gw.send(chat()).status() == 200);
}

void test_cancel(const aigw::Gateway& gw) {
    check::section("cancel from another std::thread while waiting for the head");
    {
        aigw::Cancel cancel;
        aigw::Request req = chat(kChat, "stall=10000");
        req.set_cancel(cancel);
        std::thread t([&cancel] {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            cancel.trigger();
        });
        const Clock::time_point start = Clock::now();
        EXPECT_ERROR(gw.send(req), AIGW_ERR_CANCELLED, {});
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
        t.join();
        CHECKD(ms < 3000, std::to_string(ms) + " ms");
    }

    check::section("cancel from another std::thread mid-stream");
    {
        aigw::Cancel cancel;
        aigw::Request req = chat(kChatStream, "stall_after=2");
        req.set_cancel(cancel);
        std::mutex mu;
        std::condition_variable cv;
        int events = 0;
        bool cancelled = false;
        std::thread t([&] {
            std::unique_lock<std::mutex> lock(mu);
            cv.wait(lock, [&] { return events >= 2; });
            lock.unlock();
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            cancel.trigger();
            cancel.trigger();  // idempotent
            std::lock_guard<std::mutex> g(mu);
            cancelled = true;
        });
        int after_cancel = 0;
        EXPECT_ERROR(gw.send_stream(req,
                                    [&](const aigw::Event&) {
                                        std::lock_guard<std::mutex> g(mu);
                                        ++events;
                                        after_cancel += cancelled ? 1 : 0;
                                        cv.notify_all();
                                    }),
                     AIGW_ERR_CANCELLED, {});
        t.join();
        CHECK(events == 2);
        CHECK(after_cancel == 0);
    }

    check::section("a cancel handle outlives nothing: free it after attaching");
    {
        aigw::Request req = chat();
        {
            aigw::Cancel c;
            req.set_cancel(c);
        }  // freed; the request keeps its own reference
        CHECK(gw.send(req).status() == 200);
        req.clear_cancel();
        CHECK(gw.send(req).status() == 200);
    }
}

void test_moves(const std::string& config) {
    check::section("move semantics");
    aigw::Gateway a(config);
    aigw::Gateway b(std::move(a));
    CHECK(!a);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
    CHECK(b);
    EXPECT_ERROR(a.send(chat()), AIGW_ERR_NULL_ARGUMENT, {});
    aigw::Gateway c(config);
    c = std::move(b);  // c's old gateway is freed here
    CHECK(!b);
    CHECK(c.send(chat()).status() == 200);

    aigw::Request r1 = chat();
    aigw::Request r2 = std::move(r1);
    CHECK(!r1);
    EXPECT_ERROR(r1.set_header("a", "b"), AIGW_ERR_NULL_ARGUMENT, {});
    EXPECT_ERROR(c.send(r1), AIGW_ERR_NULL_ARGUMENT, {});
    r1 = std::move(r2);
    CHECK(r1);
    CHECK(!r2);

    aigw::Response x = c.send(r1);
    aigw::Response y(std::move(x));
    CHECK(!x);
    CHECK(x.status() == 0);
    CHECK(x.step() == -1);
    CHECK(x.body().empty());
    CHECK(!x.header("content-type"));
    CHECK(x.headers().empty());
    CHECK(y.status() == 200);
    const std::string body(y.body());
    aigw::Response z = c.send(r1);
    z = std::move(y);  // z's first response is freed here
    CHECK(!y);
    CHECK(z.body() == body);
    aigw::ResponseView view = z;  // a borrowed view
    CHECK(view.status() == 200);
    std::vector<aigw::Response> kept;
    for (int i = 0; i < 3; ++i) {
        kept.push_back(c.send(r1));  // moves into the vector, reallocations move too
    }
    for (const aigw::Response& r : kept) {
        CHECK(r.status() == 200);
    }
    aigw::Response released = c.send(r1);
    aigw_response* raw = released.release();
    CHECK(!released);
    CHECK(aigw_response_status(raw) == 200);
    aigw_response_free(raw);

    aigw::Cancel k1;
    aigw::Cancel k2(std::move(k1));
    CHECK(!k1);
    CHECK(k2);
    k1.trigger();  // a no-op on a moved-from handle
    EXPECT_ERROR(r1.set_cancel(k1), AIGW_ERR_NULL_ARGUMENT, {});
    r1.set_cancel(k2);
    k2.trigger();
    EXPECT_ERROR(c.send(r1), AIGW_ERR_CANCELLED, {});
}

void test_threads(const aigw::Gateway& gw) {
    check::section("8 std::threads x 5 sends through one Gateway");
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&gw, &ok] {
            for (int i = 0; i < 5; ++i) {
                try {
                    if (gw.send(chat()).status() == 200) {
                        ++ok;
                    }
                } catch (const std::exception& e) {
                    std::fprintf(stderr, "thread send: %s\n", e.what());
                }
            }
        });
    }
    for (std::thread& t : threads) {
        t.join();
    }
    CHECKD(ok == 40, std::to_string(ok.load()) + " of 40");
}

}  // namespace

int main() {
    try {
        const std::string config = mock_config();
        aigw::Gateway gw(config);
        test_version();
        test_send(gw);
        test_universal(gw);
        test_errors(gw);
        test_stream(gw);
        test_stream_stop(gw);
        test_cancel(gw);
        test_moves(config);
        test_threads(gw);
    } catch (const aigw::Error& e) {
        CHECKD(false, std::string("uncaught aigw::Error (") +
                          std::string(aigw::status_str(e.status())) + "): " + e.what());
    } catch (const std::exception& e) {
        CHECKD(false, std::string("uncaught exception: ") + e.what());
    }
    return check::finish();
}
