// The wall clock access logs stamp requests with.

#if canImport(Glibc)
import Glibc
#endif

public enum WallClock {
    /// Microseconds since the Unix epoch (CLOCK_REALTIME; a vDSO call, no syscall).
    public static func nowMicroseconds() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000_000 + Int64(time.tv_nsec) / 1_000
    }
}
