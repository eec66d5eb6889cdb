/// One step of an image removal, as moby reports it: a name untagged, or an image or layer
/// deleted.
enum ImageRemoval: Sendable, Equatable {
    /// A name removed (familiar form).
    case untagged(String)
    /// An image id or a released layer's chain id.
    case deleted(String)
}
