// The SwiftMesh release version, reported by every program.

/// The version of SwiftMesh's programs.
public enum SwiftMeshVersion {
    public static let current = "0.1.0"
}
