// A tiny test harness for the C++ wrapper's tests: CHECK counts a pass or
// a failure (thread-safe), EXPECT_ERROR runs a statement that must throw
// aigw::Error with a given status, and finish() prints the closing
// "N passed, N failed" line and returns the exit code.
#ifndef AIGW_TEST_CHECK_HPP
#define AIGW_TEST_CHECK_HPP

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "aigw.hpp"

namespace check {

inline std::atomic<int> passed{0};
inline std::atomic<int> failed{0};

inline bool record(bool ok, const char* file, int line, const char* expr,
                   const std::string& detail = std::string()) {
    if (ok) {
        ++passed;
    } else {
        ++failed;
        std::fprintf(stderr, "FAIL %s:%d: %s%s%s\n", file, line, expr, detail.empty() ? "" : ": ",
                     detail.c_str());
    }
    return ok;
}

inline void section(const char* name) { std::printf("--- %s\n", name); }

inline int finish() {
    std::printf("%d passed, %d failed\n", passed.load(), failed.load());
    return failed.load() == 0 ? 0 : 1;
}

inline std::string mock_url() {
    const char* m = std::getenv("AIGW_MOCK_URL");
    if (m == nullptr || *m == '\0') {
        std::fprintf(stderr, "AIGW_MOCK_URL is not set (run under scripts/with-mock.sh)\n");
        std::printf("0 passed, 1 failed\n");
        std::exit(1);
    }
    std::string url(m);
    while (!url.empty() && url.back() == '/') {
        url.pop_back();
    }
    return url;
}

inline bool contains(std::string_view hay, std::string_view needle) {
    return hay.find(needle) != std::string_view::npos;
}

}  // namespace check

#define CHECK(cond) ::check::record(static_cast<bool>(cond), __FILE__, __LINE__, #cond)
#define CHECKD(cond, detail) \
    ::check::record(static_cast<bool>(cond), __FILE__, __LINE__, #cond, (detail))

// Runs `stmt`, which must throw aigw::Error with status `want`; the error
// is then available as `e` in the statements after `want` (give at least {}).
#define EXPECT_ERROR(stmt, want, ...)                                                          \
    do {                                                                                       \
        bool threw_ = false;                                                                   \
        try {                                                                                  \
            stmt;                                                                              \
        } catch (const aigw::Error& e) {                                                       \
            threw_ = true;                                                                     \
            CHECKD(e.status() == (want), std::string("got ") +                                 \
                                             std::string(aigw::status_str(e.status())) + \
                                             ": " + e.what());                                 \
            __VA_ARGS__                                                                        \
        } catch (const std::exception& e) {                                                    \
            threw_ = true;                                                                     \
            CHECKD(false && #stmt, std::string("threw a non-aigw exception: ") + e.what());   \
        }                                                                                      \
        CHECKD(threw_, std::string(#stmt) + " did not throw");                                 \
    } while (0)

#endif  // AIGW_TEST_CHECK_HPP
