// Runs the shared-library step vars/autopack.groovy under small stand-ins for the Jenkins steps
// it calls, which record their calls instead of acting. One JVM runs every scenario (a JVM
// start costs more than all the scenarios together).
//
//   groovy StepHarness.groovy STEP.groovy SCENARIOS.json   ->  a JSON list on stdout
//
// A scenario: {"name", "args": {...step arguments...}, "status": sh's exit status,
// "result": what readJSON returns (null: no result file)}. Its outcome: {"name", "calls": [...],
// "returned": the step's return value, "failed": error()'s message or null, "crash": any other
// exception}. withCredentials sets fake secrets ("SECRET-..." passwords) in the stand-in
// environment for its body only; sh records a copy of that environment with its script.

import groovy.json.JsonOutput
import groovy.json.JsonSlurper

class StepFailed extends RuntimeException {
    StepFailed(String message) { super(message) }
}

Map runScenario(Class stepClass, Map scenario) {
    List calls = []
    Map env = new TreeMap()
    def binding = new Binding()
    binding.setVariable('env', env)
    binding.setVariable('sh', { Map a ->
        calls << [step: 'sh', script: a.script.toString(), returnStatus: a.returnStatus, env: new TreeMap(env)]
        return scenario.status == null ? 0 : scenario.status
    })
    binding.setVariable('usernamePassword', { Map a -> [binding: 'usernamePassword'] + a })
    binding.setVariable('file', { Map a -> [binding: 'file'] + a })
    binding.setVariable('string', { Map a -> [binding: 'string'] + a })
    binding.setVariable('withCredentials', { List bindings, Closure body ->
        calls << [step: 'withCredentials', bindings: bindings]
        Map saved = new TreeMap(env)
        for (b in bindings) {
            if (b.binding == 'usernamePassword') {
                env[b.usernameVariable] = 'user-of-' + b.credentialsId
                env[b.passwordVariable] = 'SECRET-password-of-' + b.credentialsId
            } else if (b.binding == 'file') {
                env[b.variable] = '/var/jenkins/secrets/file-of-' + b.credentialsId  // a path: not secret itself
            } else {
                env[b.variable] = 'SECRET-text-of-' + b.credentialsId
            }
        }
        try {
            return body()
        } finally {
            env.clear()
            env.putAll(saved)
        }
    })
    binding.setVariable('fileExists', { f ->
        calls << [step: 'fileExists', file: f.toString()]
        return scenario.result != null
    })
    binding.setVariable('readJSON', { Map a ->
        calls << [step: 'readJSON'] + a
        // a fresh copy, as a real read would give
        return new JsonSlurper().parseText(JsonOutput.toJson(scenario.result))
    })
    binding.setVariable('archiveArtifacts', { Map a -> calls << [step: 'archiveArtifacts'] + a })
    binding.setVariable('error', { message ->
        calls << [step: 'error', message: message.toString()]
        throw new StepFailed(message.toString())
    })

    Script step = (Script) stepClass.newInstance()
    step.binding = binding
    Map outcome = [name: scenario.name, calls: calls, returned: null, failed: null, crash: null]
    try {
        outcome.returned = step.invokeMethod('call', [scenario.args] as Object[])
    } catch (StepFailed e) {
        outcome.failed = e.message
    } catch (Throwable e) {
        StringWriter trace = new StringWriter()
        e.printStackTrace(new PrintWriter(trace))
        outcome.crash = trace.toString()
    }
    outcome.envAfter = new TreeMap(env)
    return outcome
}

Class stepClass = new GroovyClassLoader(getClass().classLoader).parseClass(new File(args[0]))
List outcomes = []
for (scenario in new JsonSlurper().parse(new File(args[1]))) {
    outcomes << runScenario(stepClass, scenario)
}
println JsonOutput.toJson(outcomes)
