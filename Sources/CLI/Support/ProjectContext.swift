import ArgumentParser
import ComposeModel
import Scheduler

/// Loads the project the global flags describe, printing warnings and refusals compiler-style.
struct ProjectContext {
    let global: GlobalOptions
    let environment: [String: String]
    let workingDirectory: String

    init(_ global: GlobalOptions) {
        self.global = global
        self.environment = Terminal.environment
        self.workingDirectory = FileSystem.currentDirectory
    }

    func options(services: [String] = []) -> LoadOptions {
        var o = LoadOptions(workingDirectory: workingDirectory, environment: environment)
        o.configFiles = global.files
        o.projectDirectory = global.projectDirectory
        o.projectName = global.projectName
        o.envFiles = global.envFiles
        o.profiles = global.profiles
        o.selectedServices = services
        o.readStandardInput = { Terminal.readStandardInputBytes() }
        return o
    }

    var errorColor: Bool { Terminal.useColor(global.ansi, fd: 2, environment: environment) }

    /// Prints diagnostics compiler-style, and how many errors there were when more than one.
    func report(_ diagnostics: [Diagnostic], sources: SourceTexts) {
        guard !diagnostics.isEmpty else { return }
        let renderer = DiagnosticRenderer(sources: sources, workingDirectory: workingDirectory, useColor: errorColor)
        Terminal.writeError(renderer.render(diagnostics))
        let errors = diagnostics.filter { $0.severity == .error }.count
        if errors > 1 { Terminal.writeError("\(errors) errors\n") }
    }

    /// Loads the project, checks its dependency graph, and prints warnings. Throws `ExitCode.failure`
    /// after printing the problems when the project is refused.
    func load(_ options: LoadOptions) throws -> LoadedProject {
        do {
            let loaded = try ProjectLoader.load(options)
            if options.checkConsistency {
                do {
                    _ = try ServiceGraph(loaded.project)
                } catch {
                    report(loaded.warnings + [error.diagnostic], sources: loaded.sources)
                    throw ExitCode.failure
                }
            }
            report(loaded.warnings, sources: loaded.sources)
            return loaded
        } catch let error as ComposeError {
            report(error.diagnostics, sources: error.sources)
            throw ExitCode.failure
        }
    }
}

extension ProjectContext {
    /// The merged model without the typed project (for `config --no-interpolate`).
    func loadModel(_ options: LoadOptions) throws -> (Node, LoadedProject) {
        do {
            let loaded = try ProjectLoader.loadModel(options)
            report(loaded.warnings, sources: loaded.sources)
            return (loaded.model, loaded)
        } catch {
            report(error.diagnostics, sources: error.sources)
            throw ExitCode.failure
        }
    }
}
