// Accepting connections on one thread and handing each to the least-loaded worker.

#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import Synchronization

/// The accept side of every listener. NIO's server bootstrap gives each accepted connection to
/// the next loop in turn; for exact balance the proxy accepts itself (one thread, `poll` over
/// the listening sockets) and lets the caller pick the worker for each connection, which then
/// registers the socket on that worker's loop. Accepting costs one thread hop per connection,
/// never per request.
final class ConnectionAcceptor: @unchecked Sendable {
    struct Listening {
        let fd: Int32
        let accepted: @Sendable (Int32) -> Void
    }

    private let listening = Mutex<[Int32: Listening]>([:])
    /// Sockets removed but not yet closed: the accept thread closes them between polls, so a
    /// number it still polls is never reused by a new socket meanwhile.
    private let closing = Mutex<[Int32]>([])
    private let wake: (read: Int32, write: Int32)

    init() throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw AcceptError.system("pipe", errno) }
        for fd in fds { Self.configure(fd) }
        wake = (fds[0], fds[1])
        // A plain pthread (Foundation's Thread would bring all of Foundation into the proxy). It
        // polls for the process's life and holds its acceptor (one reference, never released).
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { context in
            Unmanaged<ConnectionAcceptor>.fromOpaque(context!).takeUnretainedValue().run()
            return nil
        }, Unmanaged.passRetained(self).toOpaque())
        guard started == 0 else { throw AcceptError.system("pthread_create", started) }
        pthread_detach(thread)
    }

    enum AcceptError: Error, CustomStringConvertible {
        case system(String, Int32)
        var description: String {
            switch self {
            case .system(let call, let code): return "\(call): \(String(cString: strerror(code)))"
            }
        }
    }

    /// Non-blocking and closed on exec (Glibc's module has no accept4 or pipe2).
    static func configure(_ fd: Int32) {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }

    /// A listening socket for `host:port` (IPv4 or IPv6), with SO_REUSEADDR and a 1024 backlog.
    static func listen(host: String, port: Int) throws -> Int32 {
        let address: SocketAddress
        do {
            address = try SocketAddress(ipAddress: host, port: port)
        } catch {
            throw AcceptError.system("\(host) is not an IP address", EINVAL)
        }
        let family = address.protocolFamily
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw AcceptError.system("socket", errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = address.withSockAddr { bind(fd, $0, socklen_t($1)) }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw AcceptError.system("bind \(host):\(port)", code)
        }
        guard Glibc.listen(fd, 1024) == 0 else {
            let code = errno
            close(fd)
            throw AcceptError.system("listen", code)
        }
        return fd
    }

    func add(_ fd: Int32, accepted: @escaping @Sendable (Int32) -> Void) {
        listening.withLock { $0[fd] = Listening(fd: fd, accepted: accepted) }
        poke()
    }

    /// Stops accepting on `fd` and closes it; connections already accepted are not affected.
    func remove(_ fd: Int32) {
        listening.withLock { $0[fd] = nil }
        closing.withLock { $0.append(fd) }
        poke()
    }

    private func poke() {
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
    }

    private func run() {
        while true {
            let entries = listening.withLock { Array($0.values) }
            var fds = [pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
            fds += entries.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), -1)
            if ready < 0 { continue }  // EINTR
            if fds[0].revents != 0 {
                var drain = [UInt8](repeating: 0, count: 64)
                while read(wake.read, &drain, drain.count) > 0 {}
                for fd in closing.withLock({ list in defer { list.removeAll() }; return list }) { close(fd) }
                continue  // the set of sockets changed: poll the new one
            }
            for (index, entry) in entries.enumerated() where fds[index + 1].revents != 0 {
                // Take everything queued, then poll again: one wake-up may carry many connections.
                while true {
                    let connection = accept(entry.fd, nil, nil)
                    if connection < 0 { break }  // EAGAIN, or the socket was closed by remove()
                    Self.configure(connection)
                    entry.accepted(connection)
                }
            }
        }
    }
}
