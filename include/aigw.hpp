// aigw.hpp: a header-only C++17 wrapper over aigw.h.
//
// Link as for C (`$(pkg-config --cflags --libs aigw)`); everything here is
// inline and calls the C API, so the wrapper adds no symbols of its own.
//
// Types (namespace aigw), all move-only RAII owners of one C handle:
//   Gateway   aigw_gateway   (thread-safe: share one by reference)
//   Request   aigw_request   (build on one thread; then send from any)
//   Response  aigw_response  (immutable; ResponseView is a borrowed view)
//   Cancel    aigw_cancel    (trigger() from any thread, even a signal handler)
// A moved-from object holds no handle: calling it throws Error with
// AIGW_ERR_NULL_ARGUMENT (accessors of a moved-from Response return 0 or
// empty instead, like the C functions given NULL).
//
// Errors are exceptions. Every failing C call throws aigw::Error (derived
// from std::runtime_error): status() is the aigw_status, what() the
// library's message. As in C, an HTTP error status from the upstream is not
// an exception: send() returns the Response and status() tells. A string
// holding a NUL byte is refused with AIGW_ERR_INVALID_ARGUMENT (C strings
// would silently cut it). std::bad_alloc is thrown where the C call
// returned NULL for lack of memory.
//
// Strings in are std::string_view (copied by the library); strings out are
// std::string_view borrowed from the object that returned them and valid
// while it lives (for a Response, until it is destroyed; in a callback, for
// that call only).
//
// Streaming: Gateway::send_stream(request, on_event, on_data, on_response)
// takes any callables (lambdas, std::function, or nullptr for "none"):
//   on_event(const aigw::Event&)        each Server-Sent Event
//   on_data(std::string_view bytes)     each chunk of raw body bytes
//   on_response(const aigw::ResponseView&)  the serving response's head
// A callback returning void continues; one returning bool continues on true
// and stops the transfer on false, and send_stream then throws Error with
// AIGW_ERR_ABORTED. An exception thrown by a callback never crosses the C
// library: it is caught, the transfer is stopped, and the same exception is
// rethrown from send_stream once the library has returned. send_stream
// returns the head (status, headers, step; empty body).
//
// Cancelling: make an aigw::Cancel, attach it with Request::set_cancel, and
// call trigger() from another thread: the send throws Error with
// AIGW_ERR_CANCELLED within about 100 ms. A triggered handle stays
// triggered: use a new one per cancellable send.
//
//   aigw::Gateway gw(R"({"providers":{"openai":{"base_url":"http://127.0.0.1:9000/v1"}}})");
//   aigw::Request req("POST", "openai/chat/completions");
//   req.set_header("Content-Type", "application/json").set_body(R"({"model":"m"})");
//   aigw::Response resp = gw.send(req);
//   std::cout << resp.status() << " " << resp.body() << "\n";

#ifndef AIGW_HPP
#define AIGW_HPP

#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "aigw.h"

#if !defined(__cplusplus) || __cplusplus < 201703L
#if !defined(_MSVC_LANG) || _MSVC_LANG < 201703L
#error "aigw.hpp needs C++17 or later"
#endif
#endif

namespace aigw {

// The status codes of the C API (AIGW_OK, AIGW_ERR_...).
using Status = ::aigw_status;

// The header's version, known at compile time.
inline constexpr int version_major = AIGW_VERSION_MAJOR;
inline constexpr int version_minor = AIGW_VERSION_MINOR;
inline constexpr int version_patch = AIGW_VERSION_PATCH;

// The library's version at run time ("0.1.0"); equal to AIGW_VERSION when
// the header matches the library.
inline std::string_view version() noexcept { return ::aigw_version(); }

// A short English description of a status code (static text).
inline std::string_view status_str(Status status) noexcept {
    return ::aigw_status_str(static_cast<int>(status));
}

// A failed call: the aigw_status and the library's message.
class Error : public std::runtime_error {
public:
    Error(Status status, const std::string& message)
        : std::runtime_error(message), status_(status) {}
    // The aigw_status of the failure (never AIGW_OK).
    Status status() const noexcept { return status_; }

private:
    Status status_;
};

namespace detail {

// Throws Error for `status`, taking (and freeing) `err` if any.
[[noreturn]] inline void throw_error(Status status, ::aigw_error* err, const char* what) {
    std::string message;
    if (err != nullptr) {
        message = ::aigw_error_message(err);
        ::aigw_error_free(err);
    }
    if (message.empty()) {
        message = std::string(what) + ": " + ::aigw_status_str(static_cast<int>(status));
    }
    throw Error(status, message);
}

inline void check(Status status, const char* what) {
    if (status != AIGW_OK) {
        throw_error(status, nullptr, what);
    }
}

// A NUL-terminated copy of `s`; a NUL inside it is an error.
inline std::string c_string(std::string_view s, const char* what) {
    if (s.find('\0') != std::string_view::npos) {
        throw Error(AIGW_ERR_INVALID_ARGUMENT, std::string(what) + " contains a NUL byte");
    }
    return std::string(s);
}

// Owns one C handle; move-only. Free is the C function that frees it.
template <class T, void (*Free)(T*)>
class Handle {
public:
    Handle() noexcept = default;
    explicit Handle(T* p) noexcept : p_(p) {}
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    Handle(Handle&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
    Handle& operator=(Handle&& other) noexcept {
        if (this != &other) {
            reset(std::exchange(other.p_, nullptr));
        }
        return *this;
    }
    ~Handle() { reset(); }

    T* get() const noexcept { return p_; }
    T* release() noexcept { return std::exchange(p_, nullptr); }
    void reset(T* p = nullptr) noexcept {
        T* old = std::exchange(p_, p);
        if (old != nullptr) {
            Free(old);
        }
    }

private:
    T* p_ = nullptr;
};

}  // namespace detail

// One response header, borrowed from its response.
struct Header {
    std::string_view name;
    std::string_view value;
};

// The headers of a response, in the order received (a repeated header
// appears once per value). Iterable; borrowed from the response.
class Headers {
public:
    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = Header;
        using difference_type = std::ptrdiff_t;
        using pointer = const Header*;
        using reference = Header;

        iterator() noexcept = default;
        iterator(const ::aigw_response* r, std::size_t i) noexcept : r_(r), i_(i) {}
        Header operator*() const {
            const char* name = nullptr;
            const char* value = nullptr;
            detail::check(::aigw_response_header_at(r_, i_, &name, &value),
                          "aigw_response_header_at");
            return Header{name, value};
        }
        iterator& operator++() noexcept {
            ++i_;
            return *this;
        }
        iterator operator++(int) noexcept {
            iterator old = *this;
            ++i_;
            return old;
        }
        friend bool operator==(const iterator& a, const iterator& b) noexcept {
            return a.r_ == b.r_ && a.i_ == b.i_;
        }
        friend bool operator!=(const iterator& a, const iterator& b) noexcept { return !(a == b); }

    private:
        const ::aigw_response* r_ = nullptr;
        std::size_t i_ = 0;
    };

    explicit Headers(const ::aigw_response* r) noexcept : r_(r) {}
    std::size_t size() const noexcept { return ::aigw_response_header_count(r_); }
    bool empty() const noexcept { return size() == 0; }
    iterator begin() const noexcept { return iterator(r_, 0); }
    iterator end() const noexcept { return iterator(r_, size()); }
    // The i-th header; throws Error (AIGW_ERR_INVALID_ARGUMENT) when out of range.
    Header operator[](std::size_t i) const { return *iterator(r_, i); }

private:
    const ::aigw_response* r_;
};

// A borrowed, read-only view of a response (what on_response receives).
// Copyable; valid while the response it views lives.
class ResponseView {
public:
    explicit ResponseView(const ::aigw_response* r) noexcept : r_(r) {}

    // The HTTP status code (0 for an empty Response).
    std::uint16_t status() const noexcept { return ::aigw_response_status(r_); }
    // The 0-based Universal step that served the response; 0 for provider
    // endpoints (-1 for an empty Response).
    std::int32_t step() const noexcept { return ::aigw_response_step(r_); }
    // The first value of a header, matched case-insensitively.
    std::optional<std::string_view> header(std::string_view name) const {
        std::string n = detail::c_string(name, "header name");
        const char* v = ::aigw_response_header(r_, n.c_str());
        if (v == nullptr) {
            return std::nullopt;
        }
        return std::string_view(v);
    }
    // Every header, in the order received.
    Headers headers() const noexcept { return Headers(r_); }
    // The body bytes (empty for a streamed response's head).
    std::string_view body() const noexcept {
        std::size_t len = 0;
        const std::uint8_t* p = ::aigw_response_body(r_, &len);
        if (p == nullptr) {
            return std::string_view();
        }
        return std::string_view(reinterpret_cast<const char*>(p), len);
    }
    // The C handle (borrowed).
    const ::aigw_response* get() const noexcept { return r_; }

protected:
    const ::aigw_response* r_;
};

// A response owned by the caller. Move-only.
class Response : public ResponseView {
public:
    // Takes ownership of a C response (may be NULL: an empty Response).
    explicit Response(::aigw_response* r = nullptr) noexcept : ResponseView(r), h_(r) {}
    Response(const Response&) = delete;
    Response& operator=(const Response&) = delete;
    Response(Response&& other) noexcept : ResponseView(other.r_), h_(std::move(other.h_)) {
        other.r_ = nullptr;
    }
    Response& operator=(Response&& other) noexcept {
        if (this != &other) {
            h_ = std::move(other.h_);
            r_ = std::exchange(other.r_, nullptr);
        }
        return *this;
    }
    ~Response() = default;

    // True when it holds a response (false once moved from).
    explicit operator bool() const noexcept { return h_.get() != nullptr; }
    // Gives up ownership of the C handle (free it with aigw_response_free).
    ::aigw_response* release() noexcept {
        r_ = nullptr;
        return h_.release();
    }

private:
    detail::Handle<::aigw_response, ::aigw_response_free> h_;
};

// A cancel handle. Move-only; trigger() is thread-safe and idempotent.
class Cancel {
public:
    // Throws std::bad_alloc if the library cannot make a handle.
    Cancel() : h_(::aigw_cancel_new()) {
        if (h_.get() == nullptr) {
            throw std::bad_alloc();
        }
    }
    Cancel(Cancel&&) noexcept = default;
    Cancel& operator=(Cancel&&) noexcept = default;
    Cancel(const Cancel&) = delete;
    Cancel& operator=(const Cancel&) = delete;
    ~Cancel() = default;

    // Makes sends of the requests it is attached to stop with
    // AIGW_ERR_CANCELLED. Any thread; a no-op on a moved-from Cancel.
    void trigger() const noexcept { ::aigw_cancel_trigger(h_.get()); }
    explicit operator bool() const noexcept { return h_.get() != nullptr; }
    ::aigw_cancel* get() const noexcept { return h_.get(); }

private:
    detail::Handle<::aigw_cancel, ::aigw_cancel_free> h_;
};

// A request: method, path, headers, body, optional cancel handle. Move-only.
// Change it from one thread; once built it may be sent (also concurrently)
// any number of times.
class Request {
public:
    // `path` is what follows the hosted gateway's root: "" for the Universal
    // Endpoint, or "<provider>/<endpoint>[?query]".
    Request(std::string_view method, std::string_view path) {
        std::string m = detail::c_string(method, "method");
        std::string p = detail::c_string(path, "path");
        ::aigw_request* r = nullptr;
        detail::check(::aigw_request_new(m.c_str(), p.c_str(), &r), "aigw_request_new");
        h_.reset(r);
    }
    Request(Request&&) noexcept = default;
    Request& operator=(Request&&) noexcept = default;
    Request(const Request&) = delete;
    Request& operator=(const Request&) = delete;
    ~Request() = default;

    // Adds a header (setting a name again adds another value).
    Request& set_header(std::string_view name, std::string_view value) {
        std::string n = detail::c_string(name, "header name");
        std::string v = detail::c_string(value, "header value");
        detail::check(::aigw_request_set_header(h_.get(), n.c_str(), v.c_str()),
                      "aigw_request_set_header");
        return *this;
    }
    // Sets the body (any bytes), replacing an earlier one.
    Request& set_body(std::string_view bytes) {
        detail::check(::aigw_request_set_body(
                          h_.get(), reinterpret_cast<const std::uint8_t*>(bytes.data()),
                          bytes.size()),
                      "aigw_request_set_body");
        return *this;
    }
    // Attaches a cancel handle (the request keeps its own reference).
    Request& set_cancel(const Cancel& cancel) {
        if (!cancel) {
            throw Error(AIGW_ERR_NULL_ARGUMENT, "set_cancel: the Cancel was moved from");
        }
        detail::check(::aigw_request_set_cancel(h_.get(), cancel.get()),
                      "aigw_request_set_cancel");
        return *this;
    }
    // Detaches any cancel handle.
    Request& clear_cancel() {
        detail::check(::aigw_request_set_cancel(h_.get(), nullptr), "aigw_request_set_cancel");
        return *this;
    }

    explicit operator bool() const noexcept { return h_.get() != nullptr; }
    ::aigw_request* get() const noexcept { return h_.get(); }

private:
    detail::Handle<::aigw_request, ::aigw_request_free> h_;
};

// One Server-Sent Event; every view is borrowed for the callback only.
struct Event {
    std::string_view event;  // "message" when the stream named none
    std::string_view data;   // the data lines, joined with '\n'
    std::string_view id;     // the last event id set, or empty
};

namespace detail {

// The state shared by the trampolines of one send_stream call.
template <class OnEvent, class OnData, class OnResponse>
struct StreamState {
    OnEvent& on_event;
    OnData& on_data;
    OnResponse& on_response;
    std::exception_ptr exception;
};

// Calls f(args...): void -> continue (0); bool -> 0 on true, 1 on false.
template <class F, class... Args>
int invoke_callback(F& f, Args&&... args) {
    using R = std::invoke_result_t<F&, Args...>;
    if constexpr (std::is_void_v<R>) {
        f(std::forward<Args>(args)...);
        return 0;
    } else {
        static_assert(std::is_convertible_v<R, bool>,
                      "an aigw stream callback returns void or bool (false stops)");
        return static_cast<bool>(f(std::forward<Args>(args)...)) ? 0 : 1;
    }
}

// Runs one callback, keeping any exception away from the C library.
template <class State, class Body>
int guarded(void* userdata, Body&& body) noexcept {
    State* st = static_cast<State*>(userdata);
    if (st->exception) {
        return 1;
    }
    try {
        return body(*st);
    } catch (...) {
        st->exception = std::current_exception();
        return 1;
    }
}

template <class T>
inline constexpr bool is_null_callback = std::is_same_v<std::decay_t<T>, std::nullptr_t>;

}  // namespace detail

// A gateway: providers, defaults and a connection pool. Move-only;
// thread-safe (any number of threads may send through one at once).
class Gateway {
public:
    // `config_json`: the gateway config (README lists the keys); empty for
    // the defaults. Throws Error (AIGW_ERR_INVALID_CONFIG naming the key).
    explicit Gateway(std::string_view config_json = {}) {
        std::string c = detail::c_string(config_json, "config");
        ::aigw_gateway* gw = nullptr;
        ::aigw_error* err = nullptr;
        Status st = ::aigw_gateway_new(c.c_str(), &gw, &err);
        if (st != AIGW_OK) {
            detail::throw_error(st, err, "aigw_gateway_new");
        }
        h_.reset(gw);
    }
    Gateway(Gateway&&) noexcept = default;
    Gateway& operator=(Gateway&&) noexcept = default;
    Gateway(const Gateway&) = delete;
    Gateway& operator=(const Gateway&) = delete;
    ~Gateway() = default;

    // Sends and reads the whole response. Any HTTP status is a Response;
    // failures without one (connect, timeout, cancel, ...) throw Error.
    Response send(const Request& request) const {
        ::aigw_response* out = nullptr;
        ::aigw_error* err = nullptr;
        Status st = ::aigw_send(h_.get(), request.get(), &out, &err);
        if (st != AIGW_OK) {
            detail::throw_error(st, err, "aigw_send");
        }
        return Response(out);
    }

    // Sends and streams the serving response through the callbacks (see the
    // top of this file); returns its head. Pass nullptr for a callback you
    // do not need.
    template <class OnEvent, class OnData = std::nullptr_t, class OnResponse = std::nullptr_t>
    Response send_stream(const Request& request, OnEvent&& on_event, OnData&& on_data = nullptr,
                         OnResponse&& on_response = nullptr) const {
        using State = detail::StreamState<std::remove_reference_t<OnEvent>,
                                          std::remove_reference_t<OnData>,
                                          std::remove_reference_t<OnResponse>>;
        State state{on_event, on_data, on_response, nullptr};
        ::aigw_stream_callbacks cb{};
        cb.userdata = &state;
        if constexpr (!detail::is_null_callback<OnEvent>) {
            cb.on_event = [](void* ud, const ::aigw_sse_event* ev) -> int {
                return detail::guarded<State>(ud, [ev](State& s) {
                    Event e{std::string_view(ev->event, ev->event_len),
                            std::string_view(ev->data, ev->data_len),
                            std::string_view(ev->id, ev->id_len)};
                    return detail::invoke_callback(s.on_event, static_cast<const Event&>(e));
                });
            };
        }
        if constexpr (!detail::is_null_callback<OnData>) {
            cb.on_data = [](void* ud, const std::uint8_t* data, std::size_t len) -> int {
                return detail::guarded<State>(ud, [data, len](State& s) {
                    std::string_view bytes(reinterpret_cast<const char*>(data), len);
                    return detail::invoke_callback(s.on_data, bytes);
                });
            };
        }
        if constexpr (!detail::is_null_callback<OnResponse>) {
            cb.on_response = [](void* ud, const ::aigw_response* head) -> int {
                return detail::guarded<State>(ud, [head](State& s) {
                    const ResponseView view(head);
                    return detail::invoke_callback(s.on_response, view);
                });
            };
        }
        ::aigw_response* out = nullptr;
        ::aigw_error* err = nullptr;
        Status st = ::aigw_send_stream(h_.get(), request.get(), &cb, &out, &err);
        Response head(out);
        if (state.exception) {
            ::aigw_error_free(err);
            std::rethrow_exception(state.exception);
        }
        if (st != AIGW_OK) {
            detail::throw_error(st, err, "aigw_send_stream");
        }
        return head;
    }

    explicit operator bool() const noexcept { return h_.get() != nullptr; }
    ::aigw_gateway* get() const noexcept { return h_.get(); }

private:
    detail::Handle<::aigw_gateway, ::aigw_gateway_free> h_;
};

}  // namespace aigw

#endif  // AIGW_HPP
