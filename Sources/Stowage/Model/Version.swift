/// The version `stowage --version` prints and `/-/healthy` does not (it says nothing an
/// anonymous caller could use).
public enum StowageVersion {
    public static let current = "0.1.0-dev"
}
