// The unified API through include/aigw.hpp (run under scripts/with-mock.sh):
// one OpenAI-shaped request streamed from Gemini and from Anthropic, and a
// refusal before any upstream contact, as an exception.
#include <string>
#include <vector>

#include "aigw.hpp"
#include "check.hpp"

using check::contains;

int main() {
    const std::string m = check::mock_url();
    aigw::Gateway gw(R"({"providers":{"anthropic":{"base_url":")" + m +
                     R"("},"google-ai-studio":{"base_url":")" + m + R"("}}})");

    for (const char* model : {"google-ai-studio/gemini-2.0-flash", "anthropic/claude-3-5-haiku"}) {
        check::section(model);
        aigw::Request req("POST", "compat/chat/completions");
        req.set_header("Authorization", "Bearer sk-test").set_header("x-mock", "events=3");
        req.set_body(std::string(R"({"model":")") + model +
                     R"(","stream":true,"messages":[{"role":"user","content":"hi"}]})");
        std::vector<std::string> events;
        std::string bytes;
        aigw::Response head = gw.send_stream(
            req, [&](const aigw::Event& ev) { events.emplace_back(ev.data); },
            [&](std::string_view b) { bytes.append(b); });
        CHECK(head.status() == 200);
        auto provider = head.header("cf-aig-provider");
        CHECK(provider && std::string(model).rfind(std::string(*provider) + "/", 0) == 0);
        CHECK(!events.empty() && events.back() == "[DONE]");
        CHECK(events.size() == 6);  // role, 3 texts, finish, [DONE]
        for (const auto& e : events) {
            CHECK(e == "[DONE]" || contains(e, "\"object\":\"chat.completion.chunk\""));
        }
        CHECK(contains(bytes, "\"content\":\"tok1 \""));
        CHECK(contains(events.front(), "\"role\":\"assistant\""));
    }

    check::section("refused before upstream contact");
    aigw::Request bad("POST", "compat/chat/completions");
    bad.set_body(R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})");
    EXPECT_ERROR(gw.send(bad), AIGW_ERR_INVALID_REQUEST, {
        CHECK(contains(e.what(), "provider"));
    });
    return check::finish();
}
