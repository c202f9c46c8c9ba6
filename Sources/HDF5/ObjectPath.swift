/// Helpers for HDF5 object paths ("/a/b/c"), used to name objects in errors and to walk
/// intermediate groups.
enum ObjectPath {
    /// The absolute path of `name` seen from the object at `base` (names starting with "/" are
    /// already absolute).
    static func resolve(_ name: String, from base: String) -> String {
        let joined = name.hasPrefix("/") ? name : (base.hasSuffix("/") ? base + name : base + "/" + name)
        return normalize(joined)
    }

    /// Collapses repeated slashes, drops "." components and a trailing slash.
    static func normalize(_ path: String) -> String {
        let parts = components(path)
        return "/" + parts.joined(separator: "/")
    }

    /// The non-empty, non-"." components of a path.
    static func components(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: true).map(String.init).filter { $0 != "." }
    }

    /// The relative or absolute prefixes of `name` that must exist for `name` to exist, ending
    /// with `name` itself: "a/b/c" -> ["a", "a/b", "a/b/c"]; "/a/b" -> ["/a", "/a/b"].
    static func prefixes(_ name: String) -> [String] {
        let absolute = name.hasPrefix("/")
        var result: [String] = []
        var current = absolute ? "/" : ""
        for part in components(name) {
            current += (current.isEmpty || current == "/") ? part : "/" + part
            result.append(current)
        }
        return result
    }

    /// `name` as HDF5 should see it: "" (which HDF5 rejects) becomes ".", this object.
    static func libraryName(_ name: String) -> String {
        components(name).isEmpty ? (name.hasPrefix("/") ? "/" : ".") : name
    }
}
