/// docker compose's labels on containers, networks and volumes: the one place their names are
/// written. The Engine never reads them; the Scheduler sets them and finds the project's objects by them.
public enum ComposeLabels {
    public static let project = "com.docker.compose.project"
    public static let service = "com.docker.compose.service"
    public static let containerNumber = "com.docker.compose.container-number"
    public static let oneOff = "com.docker.compose.oneoff"
    public static let configHash = "com.docker.compose.config-hash"
    public static let image = "com.docker.compose.image"
    public static let workingDirectory = "com.docker.compose.project.working_dir"
    public static let configFiles = "com.docker.compose.project.config_files"
    public static let version = "com.docker.compose.version"
    public static let dependsOn = "com.docker.compose.depends_on"
    public static let network = "com.docker.compose.network"
    public static let volume = "com.docker.compose.volume"
    public static let slug = "com.docker.compose.slug"
    /// The kind of lifecycle hook a container runs (`pre_start`), as docker compose v5 labels it.
    public static let hook = "com.docker.compose.hook"
    /// Not docker compose's: marks the volumes swcompose made for anonymous `volumes:` entries.
    public static let anonymous = "com.docker.compose.anonymous"
}
