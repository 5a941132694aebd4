import Engine
#if canImport(Glibc)
import Glibc
#endif
exit(HelperMode.run(CommandLine.arguments) ?? 2)
