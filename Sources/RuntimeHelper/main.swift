import Engine
#if canImport(Glibc)
import Glibc
#endif
let args = CommandLine.arguments
switch args.count > 1 ? args[1] : "" {
case "__init": exit(ContainerInit.main(Array(args.dropFirst(2))))
case "__supervise": exit(Supervisor.main(Array(args.dropFirst(2))))
case "__exec": exit(ContainerExec.main())
default: exit(2)
}
