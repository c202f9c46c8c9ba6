import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Debian's `chromium` in headless mode, driven over the Chrome DevTools Protocol on a pipe
/// (`--remote-debugging-pipe`: the browser reads commands on its fd 3 and writes answers and
/// events on its fd 4, each message one JSON object ending in a NUL byte). No Python, Node or
/// websocket library: JSON over two pipes. The browser runs in its own process group with a
/// throwaway profile (and HOME), and `close()` ends it (Browser.close, then SIGKILL to its group).
final class HeadlessChromium {
    /// The `chromium` (or `chromium-browser`) on PATH, or nil.
    static var executable: String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            for name in ["chromium", "chromium-browser"] {
                let candidate = "\(dir)/\(name)"
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            }
        }
        return nil
    }

    struct ProtocolError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    private(set) var pid: pid_t = 0
    private let commands: Int32      // our end of the browser's fd 3
    private let answers: Int32       // our end of the browser's fd 4
    private let profile: URL
    private var nextID = 1
    private var pending: [UInt8] = []
    /// Events received while waiting for answers (method, params), oldest first.
    private(set) var events: [(method: String, params: [String: Any])] = []
    private var exited = false

    /// Starts `executable` headless on about:blank and checks the protocol answers (Browser.getVersion).
    init(executable: String) throws {
        profile = try makeTemporaryDirectory("gpt-dist-chromium").appendingPathComponent("profile")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        var toBrowser: [Int32] = [0, 0], fromBrowser: [Int32] = [0, 0]
        guard pipe(&toBrowser) == 0, pipe(&fromBrowser) == 0 else {
            throw ProtocolError("pipe: \(String(cString: strerror(errno)))")
        }
        for fd in toBrowser + fromBrowser { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        // Copies at fds >= 10 (close-on-exec), so that dup2 onto 3 and 4 in the child never has
        // source == target (which would keep close-on-exec set).
        let childIn = fcntl(toBrowser[0], F_DUPFD_CLOEXEC, 10), childOut = fcntl(fromBrowser[1], F_DUPFD_CLOEXEC, 10)
        Glibc.close(toBrowser[0]); Glibc.close(fromBrowser[1])
        commands = toBrowser[1]
        answers = fromBrowser[0]

        let log = profile.deletingLastPathComponent().appendingPathComponent("chromium.log").path
        let arguments = [executable, "--headless=new", "--no-sandbox", "--remote-debugging-pipe",
                         "--user-data-dir=\(profile.path)", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--no-proxy-server", "about:blank"]
        var environment = ProcessInfo.processInfo.environment
        let home = profile.deletingLastPathComponent().path
        environment["HOME"] = home   // nothing lands in the real ~/.config or ~/.cache
        environment["XDG_CONFIG_HOME"] = home + "/config"
        environment["XDG_CACHE_HOME"] = home + "/cache"

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, childIn, 3)
        posix_spawn_file_actions_adddup2(&actions, childOut, 4)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)   // its own group: close() can end every process it forks

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        let status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        Glibc.close(childIn); Glibc.close(childOut)
        guard status == 0 else {
            Glibc.close(commands); Glibc.close(answers)
            throw ProtocolError("posix_spawn \(executable): \(String(cString: strerror(status)))")
        }
        _ = try send("Browser.getVersion", timeout: 30)
    }

    /// What the browser printed (its log file), for failure messages.
    var log: String {
        (try? String(contentsOf: profile.deletingLastPathComponent().appendingPathComponent("chromium.log"),
                     encoding: .utf8)) ?? ""
    }

    /// Sends one command (to a page's `session`, or to the browser) and waits for its answer;
    /// events that arrive meanwhile are kept in `events`. Throws on a protocol error or timeout.
    @discardableResult
    func send(_ method: String, _ params: [String: Any] = [:], session: String? = nil,
              timeout: TimeInterval = 10) throws -> [String: Any] {
        let id = nextID
        nextID += 1
        var message: [String: Any] = ["id": id, "method": method, "params": params]
        if let session { message["sessionId"] = session }
        var bytes = [UInt8](try JSONSerialization.data(withJSONObject: message))
        bytes.append(0)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(commands, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw ProtocolError("\(method): writing to the browser failed (\(String(cString: strerror(errno)))); its log:\n\(log)") }
            written += n
        }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let object = try readMessage(until: deadline, waitingFor: method)
            if object["id"] as? Int == id {
                if let error = object["error"] as? [String: Any] {
                    throw ProtocolError("\(method): \(error["message"] ?? error)")
                }
                return object["result"] as? [String: Any] ?? [:]
            }
            if let event = object["method"] as? String {
                events.append((event, object["params"] as? [String: Any] ?? [:]))
            }
        }
    }

    /// Evaluates a JavaScript expression in the page and returns its value (strings, numbers,
    /// booleans; objects should be returned as JSON strings). A thrown exception is an error.
    func evaluate(_ expression: String, session: String) throws -> Any? {
        let result = try send("Runtime.evaluate", ["expression": expression, "returnByValue": true, "awaitPromise": true],
                              session: session)
        if let exception = result["exceptionDetails"] as? [String: Any] {
            let text = ((exception["exception"] as? [String: Any])?["description"] as? String) ?? "\(exception)"
            throw ProtocolError("evaluating \(expression): \(text)")
        }
        return (result["result"] as? [String: Any])?["value"]
    }

    private func readMessage(until deadline: Date, waitingFor method: String) throws -> [String: Any] {
        while true {
            if let end = pending.firstIndex(of: 0) {
                let message = Array(pending[..<end])
                pending.removeSubrange(...end)
                guard let object = try JSONSerialization.jsonObject(with: Data(message)) as? [String: Any] else {
                    throw ProtocolError("the browser sent a message that is not a JSON object")
                }
                return object
            }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { throw ProtocolError("\(method): no answer from the browser in time; its log:\n\(log)") }
            var fd = pollfd(fd: answers, events: Int16(POLLIN), revents: 0)
            let ready = poll(&fd, 1, Int32(min(left, 1) * 1000) + 1)
            if ready < 0 && errno == EINTR { continue }
            guard ready >= 0 else { throw ProtocolError("poll: \(String(cString: strerror(errno)))") }
            if ready == 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            let n = chunk.withUnsafeMutableBytes { read(answers, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw ProtocolError("\(method): the browser closed its pipe (it exited?); its log:\n\(log)") }
            pending += chunk[..<n]
        }
    }

    /// Ends the browser: Browser.close, up to 5 s for it to exit, then SIGKILL to its process
    /// group; removes the profile.
    func close() {
        guard !exited else { return }
        exited = true
        _ = try? send("Browser.close", timeout: 5)
        // Wait for the exit without reaping (WNOWAIT), so the group id cannot be reused before
        // the kill below reaches the renderer and helper processes still in it.
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline && !hasExited() { usleep(20_000) }
        kill(-pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        Glibc.close(commands)
        Glibc.close(answers)
        try? FileManager.default.removeItem(at: profile.deletingLastPathComponent())
    }

    /// Whether the browser's main process has exited (it is left to be reaped).
    private func hasExited() -> Bool {
        var info = siginfo_t()
        guard waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 else { return true }
        return info._sifields._sigchld.si_pid == pid
    }

    deinit { close() }
}
