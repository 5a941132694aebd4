/// What commands killed halfway leave, cleaned by the next command: container records that were
/// never completed, and the blobs of image loads that never finished.
public enum Recovery {
    public static func clean(_ root: StateRoot) {
        ContainerStore(runtime: Runtime(root: root)).removeIncomplete()
        LoadJournal.recover(ImageStore(root: root))
    }
}
