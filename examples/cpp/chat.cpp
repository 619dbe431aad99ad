// chat: the C++ wrapper (include/aigw.hpp) in one program. It sends one
// chat completion, then streams another and prints its tokens as they
// arrive; Ctrl-C cancels the stream.
//
//   chat [BASE_URL [API_KEY [MODEL]]]
//
// BASE_URL defaults to $AIGW_MOCK_URL/v1 (the project's mock provider). The
// built-in `openai` provider is pointed at BASE_URL, so any
// OpenAI-compatible server works:
//
//   chat https://api.openai.com/v1 "$OPENAI_API_KEY" gpt-4o-mini
//
// Against the mock, from the repository root: `make cpp-demo`.
// Exit status: 0 on success, 130 when cancelled, 2 on bad usage, 1 otherwise.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

#include "aigw.hpp"

namespace {

// The cancel handle the SIGINT handler triggers (trigger() is a single
// atomic store: async-signal-safe). Set before the handler is installed.
const aigw::Cancel* g_cancel = nullptr;

extern "C" void on_sigint(int) {
    if (g_cancel != nullptr) {
        g_cancel->trigger();
    }
}

// The JSON string value after `"key":` in `s` (only \" and \\ and \n
// unescaped: enough for a demo; use a JSON library in real code).
std::string json_string_after(std::string_view s, std::string_view key) {
    std::string pat = "\"" + std::string(key) + "\":\"";
    std::size_t i = s.find(pat);
    std::string out;
    if (i == std::string_view::npos) {
        return out;
    }
    for (i += pat.size(); i < s.size() && s[i] != '"'; ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) {
            ++i;
            out += s[i] == 'n' ? '\n' : s[i];
        } else {
            out += s[i];
        }
    }
    return out;
}

// A JSON string literal for `s` (for the demo's own inputs).
std::string json_quote(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
    std::string base;
    if (argc > 1) {
        base = argv[1];
    } else if (const char* mock = std::getenv("AIGW_MOCK_URL")) {
        base = std::string(mock) + "/v1";
    } else {
        std::cerr << "usage: " << argv[0] << " BASE_URL [API_KEY [MODEL]]   (or set AIGW_MOCK_URL)\n";
        return 2;
    }
    const std::string key = argc > 2 ? argv[2] : "sk-demo";
    const std::string model = argc > 3 ? argv[3] : "gpt-4o-mini";

    // Ctrl-C cancels whichever send is running. The handle outlives the
    // handler: it is uninstalled before `cancel` goes out of scope.
    aigw::Cancel cancel;
    g_cancel = &cancel;
    std::signal(SIGINT, on_sigint);
    int rc = 1;
    // What the provider answered when it did not stream (reported on abort).
    std::string refused;
    try {
        std::cout << "aigw " << aigw::version() << " (C++)\n";
        aigw::Gateway gw(R"({"providers":{"openai":{"base_url":)" + json_quote(base) + "}}}");

        // 1. One call, the whole response at once.
        aigw::Request req("POST", "openai/chat/completions");
        req.set_header("Authorization", "Bearer " + key)
            .set_header("Content-Type", "application/json")
            .set_body(R"({"model":)" + json_quote(model) +
                      R"(,"messages":[{"role":"user","content":"Say hello from C++"}]})")
            .set_cancel(cancel);
        aigw::Response resp = gw.send(req);
        if (resp.status() / 100 == 2) {
            std::cout << "send: HTTP " << resp.status() << ": "
                      << json_string_after(resp.body(), "content") << "\n";
        } else {
            // Not served: show what the provider said, not an empty "content".
            std::cout << "send: HTTP " << resp.status() << " from the provider: " << resp.body()
                      << "\n";
        }

        // 2. A streamed call: tokens printed as they arrive.
        aigw::Request sreq("POST", "openai/chat/completions");
        sreq.set_header("Authorization", "Bearer " + key)
            .set_header("Content-Type", "application/json")
            .set_body(R"({"model":)" + json_quote(model) +
                      R"(,"stream":true,"messages":[{"role":"user","content":"Count to five"}]})")
            .set_cancel(cancel);
        std::cout << "stream: " << std::flush;
        int tokens = 0;
        aigw::Response head = gw.send_stream(
            sreq,
            [&](const aigw::Event& ev) {
                if (ev.data == "[DONE]") {
                    return;
                }
                std::string token = json_string_after(ev.data, "content");
                if (!token.empty()) {
                    ++tokens;
                    std::cout << token << std::flush;
                }
            },
            nullptr,
            [&](const aigw::ResponseView& h) {
                // Stop at once if the provider did not stream, saying what it sent.
                std::optional<std::string_view> ct = h.header("content-type");
                bool sse = ct && ct->find("text/event-stream") != std::string_view::npos;
                if (!sse) {
                    refused = "the provider answered HTTP " + std::to_string(h.status()) +
                              " (" + std::string(ct ? *ct : "no content-type") +
                              ") instead of a stream";
                }
                return sse;
            });
        std::cout << "\nstream: HTTP " << head.status() << ", " << tokens << " tokens, step "
                  << head.step() << "\n";
        rc = resp.status() / 100 == 2 && head.status() / 100 == 2 ? 0 : 1;
    } catch (const aigw::Error& e) {
        std::cout << "\n";
        std::cerr << "chat: " << aigw::status_str(e.status()) << ": " << e.what() << "\n";
        if (e.status() == AIGW_ERR_ABORTED && !refused.empty()) {
            std::cerr << "chat: " << refused << "\n";
        }
        rc = e.status() == AIGW_ERR_CANCELLED ? 130 : 1;
    } catch (const std::exception& e) {
        std::cerr << "chat: " << e.what() << "\n";
    }
    std::signal(SIGINT, SIG_DFL);
    g_cancel = nullptr;
    return rc;
}
