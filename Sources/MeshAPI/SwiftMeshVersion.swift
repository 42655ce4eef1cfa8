// The SwiftMesh release version, reported by every program.

public enum SwiftMeshVersion {
    public static let current = "0.1.0"
}
