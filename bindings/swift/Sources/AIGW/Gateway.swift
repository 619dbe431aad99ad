// A thin Swift wrapper over aigw's C API (aigw.h).
//
// NOTE: written without a Swift toolchain at hand; it has not been
// compiled. See bindings/swift/README.md.

import CAigw
import Foundation

/// The library's status codes (`aigw_status`).
public enum Status: Int32, Sendable {
    case ok = 0
    case nullArgument = 1
    case invalidArgument = 2
    case invalidConfig = 3
    case invalidRequest = 4
    case unknownProvider = 5
    case connect = 6
    case timeout = 7
    case tls = 8
    case `protocol` = 9
    case rateLimited = 10
    case bodyTooLarge = 11
    case aborted = 12
    case cancelled = 13
    case streamInterrupted = 14
    case panic = 15
}

/// A failed call: the library's status code and its message (which names
/// the step, provider, host or timeout that failed, never credentials).
public struct AIGWError: Error, CustomStringConvertible, Sendable {
    /// The raw `AIGW_ERR_*` value.
    public let code: Int32
    public let message: String

    public var status: Status? { Status(rawValue: code) }

    public var description: String {
        let name = String(cString: aigw_status_str(code))
        return message.isEmpty ? "aigw: \(name)" : "aigw: \(name): \(message)"
    }

    init(code: Int32, message: String) {
        self.code = code
        self.message = message
    }

    /// Takes (and frees) a C error.
    init(_ status: aigw_status, _ error: OpaquePointer?) {
        code = Int32(truncatingIfNeeded: status.rawValue)
        if let error = error {
            message = String(cString: aigw_error_message(error))
            aigw_error_free(error)
        } else {
            message = ""
        }
    }
}

/// Thrown by `Gateway.stream` when the serving response is not 2xx (every
/// Universal step failed): the response, with its body.
public struct HTTPStatusError: Error, Sendable {
    public let response: Response
}

/// A request: `path` is what follows the gateway root in the hosted
/// gateway's URL ("" for the Universal Endpoint, or
/// "<provider>/<endpoint>[?query]").
public struct Request: Sendable {
    public var method: String
    public var path: String
    /// Sent in order; a repeated name sends several values.
    public var headers: [(name: String, value: String)]
    public var body: Data

    public init(method: String = "POST", path: String,
                headers: [(name: String, value: String)] = [], body: Data = Data()) {
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
    }
}

/// An upstream HTTP response. Any HTTP status is a response, not an error.
public struct Response: Sendable {
    public let status: Int
    /// The Universal step that served it (the `cf-aig-step` header).
    public let step: Int
    /// In the order received.
    public let headers: [(name: String, value: String)]
    public let body: Data

    /// The first value of `name`, matched case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// Copies a C response (which the caller still frees).
    init(_ r: OpaquePointer, body: Data? = nil) {
        status = Int(aigw_response_status(r))
        step = Int(aigw_response_step(r))
        var headers: [(name: String, value: String)] = []
        let count = aigw_response_header_count(r)
        for i in 0..<count {
            var name: UnsafePointer<CChar>?
            var value: UnsafePointer<CChar>?
            if aigw_response_header_at(r, i, &name, &value) == AIGW_OK,
               let name = name, let value = value {
                headers.append((name: String(cString: name), value: String(cString: value)))
            }
        }
        self.headers = headers
        if let body = body {
            self.body = body
        } else {
            var len = 0
            if let bytes = aigw_response_body(r, &len), len > 0 {
                self.body = Data(bytes: bytes, count: len)
            } else {
                self.body = Data()
            }
        }
    }
}

/// One Server-Sent Event of a streamed response.
public struct Event: Sendable {
    /// "message" when the stream named none.
    public let event: String
    /// The data lines joined with "\n".
    public let data: String
    /// The last event id the stream set; "" if none.
    public let id: String
}

/// A cancel handle (`aigw_cancel`): `cancel()` from any thread makes the
/// send it was given to throw `AIGWError` with status `.cancelled`.
public final class CancelToken: @unchecked Sendable {
    let handle: OpaquePointer?

    public init() { handle = aigw_cancel_new() }
    deinit { aigw_cancel_free(handle) }

    public func cancel() { aigw_cancel_trigger(handle) }
}

/// A configured gateway. Thread-safe: share one across threads and tasks.
public final class Gateway: @unchecked Sendable {
    private let handle: OpaquePointer

    /// `config` is the JSON config (README lists the keys); "{}" for the
    /// defaults.
    public init(config: String = "{}") throws {
        var gw: OpaquePointer?
        var err: OpaquePointer?
        let st = aigw_gateway_new(config, &gw, &err)
        guard st == AIGW_OK, let gw = gw else { throw AIGWError(st, err) }
        handle = gw
    }

    deinit { aigw_gateway_free(handle) }

    /// Sends a request and reads the whole response, blocking the calling
    /// thread. `cancel` (optional) stops it from another thread.
    public func send(_ request: Request, cancel: CancelToken? = nil) throws -> Response {
        let req = try makeRequest(request, cancel: cancel)
        defer { aigw_request_free(req) }
        var out: OpaquePointer?
        var err: OpaquePointer?
        let st = aigw_send(handle, req, &out, &err)
        guard st == AIGW_OK, let resp = out else { throw AIGWError(st, err) }
        defer { aigw_response_free(resp) }
        return Response(resp)
    }

    /// Streams the serving response's events. The blocking send runs on a
    /// thread of its own; ending the iteration early (or cancelling the
    /// consuming task) cancels it. Fails with `AIGWError`, or with
    /// `HTTPStatusError` when the serving response is not 2xx.
    public func stream(_ request: Request) -> AsyncThrowingStream<Event, Error> {
        AsyncThrowingStream { continuation in
            let cancel = CancelToken()
            continuation.onTermination = { @Sendable _ in cancel.cancel() }
            let thread = Thread { [self] in
                do {
                    let head = try self.runStream(request, cancel: cancel) { event in
                        if case .terminated = continuation.yield(event) { return false }
                        return true
                    }
                    if (200..<300).contains(head.status) {
                        continuation.finish()
                    } else {
                        continuation.finish(throwing: HTTPStatusError(response: head))
                    }
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            thread.stackSize = 4 << 20
            thread.start()
        }
    }

    private func makeRequest(_ r: Request, cancel: CancelToken?) throws -> OpaquePointer {
        var out: OpaquePointer?
        let st = aigw_request_new(r.method, r.path, &out)
        guard st == AIGW_OK, let req = out else {
            throw AIGWError(code: Int32(truncatingIfNeeded: st.rawValue), message: "creating the request")
        }
        func check(_ st: aigw_status, _ what: String) throws {
            if st != AIGW_OK {
                throw AIGWError(code: Int32(truncatingIfNeeded: st.rawValue), message: what)
            }
        }
        do {
            for (name, value) in r.headers {
                try check(aigw_request_set_header(req, name, value), "invalid header \(name)")
            }
            let st = r.body.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> aigw_status in
                aigw_request_set_body(req, raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count)
            }
            try check(st, "setting the body")
            if let cancel = cancel {
                try check(aigw_request_set_cancel(req, cancel.handle), "attaching the cancel handle")
            }
        } catch {
            aigw_request_free(req)
            throw error
        }
        return req
    }

    /// Runs aigw_send_stream on the calling thread; `onEvent` returns false
    /// to stop. Returns the head, with the body if it was not an event
    /// stream.
    private func runStream(_ request: Request, cancel: CancelToken,
                           onEvent: @escaping (Event) -> Bool) throws -> Response {
        let req = try makeRequest(request, cancel: cancel)
        defer { aigw_request_free(req) }
        let context = StreamContext(onEvent: onEvent)
        let userdata = Unmanaged.passRetained(context).toOpaque()
        defer { Unmanaged<StreamContext>.fromOpaque(userdata).release() }

        var callbacks = aigw_stream_callbacks(
            userdata: userdata,
            on_response: { userdata, head in
                guard let userdata = userdata, let head = head else { return 0 }
                let context = Unmanaged<StreamContext>.fromOpaque(userdata).takeUnretainedValue()
                let type = aigw_response_header(head, "content-type").map { String(cString: $0) } ?? ""
                context.isEventStream = type.lowercased().hasPrefix("text/event-stream")
                return 0
            },
            on_data: { userdata, data, len in
                guard let userdata = userdata, let data = data, len > 0 else { return 0 }
                let context = Unmanaged<StreamContext>.fromOpaque(userdata).takeUnretainedValue()
                if !context.isEventStream { context.body.append(data, count: len) }
                return 0
            },
            on_event: { userdata, event in
                guard let userdata = userdata, let ev = event?.pointee else { return 0 }
                let context = Unmanaged<StreamContext>.fromOpaque(userdata).takeUnretainedValue()
                let keepGoing = context.onEvent(Event(
                    event: utf8(ev.event, ev.event_len),
                    data: utf8(ev.data, ev.data_len),
                    id: utf8(ev.id, ev.id_len)))
                return keepGoing ? 0 : 1
            }
        )
        var out: OpaquePointer?
        var err: OpaquePointer?
        let st = aigw_send_stream(handle, req, &callbacks, &out, &err)
        guard st == AIGW_OK, let head = out else { throw AIGWError(st, err) }
        defer { aigw_response_free(head) }
        return Response(head, body: context.body)
    }
}

/// The Swift side of one stream, reached from the C callbacks through
/// `userdata`. The callbacks run one at a time on the streaming thread.
private final class StreamContext {
    let onEvent: (Event) -> Bool
    var isEventStream = false
    var body = Data()

    init(onEvent: @escaping (Event) -> Bool) { self.onEvent = onEvent }
}

/// Decodes a borrowed, not NUL-terminated UTF-8 text.
private func utf8(_ p: UnsafePointer<CChar>?, _ n: Int) -> String {
    guard let p = p, n > 0 else { return "" }
    return String(decoding: UnsafeRawBufferPointer(start: UnsafeRawPointer(p), count: n), as: UTF8.self)
}
