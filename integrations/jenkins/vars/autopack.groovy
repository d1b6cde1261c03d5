// autopack(Map args): one Maven service -> one pushed container image, through the autopack CLI.
// Help: vars/autopack.txt. Tested by tests/integrations/test_jenkins.py under recording stand-ins.
//
// Secrets never enter the command string: withCredentials binds them to the environment
// variables autopack reads (AUTOPACK_REGISTRY_USER_<KEY>, AUTOPACK_GIT_*, AUTOPACK_SVN_*), and
// the script holds nothing but shell-quoted arguments. The helpers below are plain methods
// without closures, so they run unchanged under CPS and compile with a stock groovyc (no
// @NonCPS, which would need Jenkins' classes on the class path).

def call(Map args = [:]) {
    Map opts = args == null ? [:] : args
    checkKeys(opts)
    String resultFile = text(opts.resultFile) ?: 'autopack-result.json'
    List destinations = words(opts.push, 'push')
    List argv = commandLine(opts, destinations, resultFile)
    List bindings = credentialBindings(opts, destinations)

    // A result file left by an earlier run in this workspace must not be read as this run's.
    String script = 'rm -f -- ' + shellQuote(resultFile) + '\n' + shellJoin(argv)
    int status
    if (bindings) {
        withCredentials(bindings) {
            status = sh(script: script, returnStatus: true)
        }
    } else {
        status = sh(script: script, returnStatus: true)
    }

    Map result = [:]
    if (fileExists(resultFile)) {
        def parsed = readJSON(file: resultFile, returnPojo: true)
        if (parsed instanceof Map) {
            result = parsed
        }
    }
    archiveArtifacts(artifacts: resultFile, allowEmptyArchive: true)
    // Each image's SBOM and provenance, written beside the result file: <result>.<module>.cdx.json, .provenance.json
    archiveArtifacts(artifacts: supplyChainFiles(resultFile), allowEmptyArchive: true)
    if (status != 0) {
        error("autopack failed (exit ${status}): " + failureText(result, resultFile))
    }
    return result
}

List knownKeys() {
    return ['source', 'push', 'tags', 'mavenArgs', 'image', 'ref', 'revision', 'subdir',
            'registryCredentialsId', 'scmCredentialsId', 'signingKeyCredentialsId', 'signingPasswordCredentialsId',
            'resultFile', 'extraArgs', 'command']
}

void checkKeys(Map opts) {
    List unknown = []
    for (key in opts.keySet()) {
        if (!knownKeys().contains(key.toString())) {
            unknown << key.toString()
        }
    }
    if (unknown) {
        error("autopack: unknown argument(s) ${unknown.join(', ')} \u2014 known: ${knownKeys().join(', ')}")
    }
}

/** The autopack command as a list of arguments, in a fixed order (tested on its exact output). */
List commandLine(Map opts, List destinations, String resultFile) {
    List argv = [text(opts.command) ?: 'autopack', 'build']
    if (text(opts.source)) {
        argv << text(opts.source)
    }
    for (dest in destinations) {
        // "--push" followed by something starting with "-" means autopack's bare --push.
        if (dest.startsWith('-')) {
            error("autopack: push destination '${dest}' must be registry[:port]/repository")
        }
        argv << '--push' << dest
    }
    for (tag in words(opts.tags, 'tags')) {
        argv << '--tag' << tag
    }
    if (text(opts.image)) {
        argv << '--image' << text(opts.image)
    }
    if (text(opts.ref)) {
        argv << '--ref' << text(opts.ref)
    }
    if (text(opts.revision)) {
        argv << '--revision' << text(opts.revision)
    }
    if (text(opts.subdir)) {
        argv << '--subdir' << text(opts.subdir)
    }
    // The "=" form: a Maven argument such as -U must not be read as an autopack option.
    for (arg in words(opts.mavenArgs, 'mavenArgs')) {
        argv << ('--maven-arg=' + arg)
    }
    argv << '--result-file' << resultFile
    for (arg in words(opts.extraArgs, 'extraArgs')) {
        argv << arg
    }
    return argv
}

/** usernamePassword bindings for withCredentials: registry logins per destination registry, and
 *  one SCM login offered to both git and svn. */
List credentialBindings(Map opts, List destinations) {
    List bindings = []
    Map registryIds = registryCredentials(opts.registryCredentialsId, destinations)
    Map keyOwner = [:]
    for (registry in registryIds.keySet()) {
        String key = registryKey(registry)
        if (keyOwner.containsKey(key)) {
            error("autopack: registries '${keyOwner[key]}' and '${registry}' share the variable suffix ${key}; autopack cannot tell their logins apart")
        }
        keyOwner[key] = registry
        bindings << usernamePassword(credentialsId: registryIds[registry],
                usernameVariable: 'AUTOPACK_REGISTRY_USER_' + key,
                passwordVariable: 'AUTOPACK_REGISTRY_PASSWORD_' + key)
    }
    String scmId = text(opts.scmCredentialsId)
    if (scmId) {
        bindings << usernamePassword(credentialsId: scmId, usernameVariable: 'AUTOPACK_GIT_USER', passwordVariable: 'AUTOPACK_GIT_PASSWORD')
        bindings << usernamePassword(credentialsId: scmId, usernameVariable: 'AUTOPACK_SVN_USER', passwordVariable: 'AUTOPACK_SVN_PASSWORD')
    }
    // A "Secret file" holding the cosign key (autopack reads AUTOPACK_SIGN_KEY as --sign-key),
    // and a "Secret text" with its password in cosign's own variable.
    String keyId = text(opts.signingKeyCredentialsId)
    if (keyId) {
        bindings << file(credentialsId: keyId, variable: 'AUTOPACK_SIGN_KEY')
    }
    String passwordId = text(opts.signingPasswordCredentialsId)
    if (passwordId) {
        if (!keyId) {
            error("autopack: signingPasswordCredentialsId needs signingKeyCredentialsId, the key it unlocks")
        }
        bindings << string(credentialsId: passwordId, variable: 'COSIGN_PASSWORD')
    }
    return bindings
}

/** The Ant pattern of the SBOM and provenance files autopack writes beside ``resultFile``. */
String supplyChainFiles(String resultFile) {
    String stem = resultFile.endsWith('.json') ? resultFile.substring(0, resultFile.length() - 5) : resultFile
    return stem + '.*.json'
}

/** registry host[:port] -> credentials id. One id serves every destination's registry; a Map
 *  names a credential per registry (keys are registries, not destinations). */
Map registryCredentials(def spec, List destinations) {
    Map ids = [:]
    if (spec == null || spec == '') {
        return ids
    }
    if (spec instanceof Map) {
        for (registry in spec.keySet()) {
            String name = registry.toString()
            if (name.contains('/')) {
                error("autopack: registryCredentialsId key '${name}' must be a registry host[:port], not a destination")
            }
            ids[name] = text(spec[registry])
        }
        return ids
    }
    if (!destinations) {
        error('autopack: registryCredentialsId is given but push names no destination')
    }
    for (dest in destinations) {
        ids[registryOf(dest)] = text(spec)
    }
    return ids
}

/** The registry part of registry[:port]/repository, by autopack's own rule (never guessed). */
String registryOf(String destination) {
    String name = destination.trim().replaceAll('/+$', '')
    int slash = name.indexOf('/')
    String registry = slash < 0 ? name : name.substring(0, slash)
    if (slash < 0 || !(registry.contains('.') || registry.contains(':') || registry == 'localhost')) {
        error("autopack: push destination '${destination}' names no registry \u2014 write it as registry[:port]/repository")
    }
    return registry
}

/** registry.example.com:5000 -> REGISTRY_EXAMPLE_COM_5000. Locale.ROOT: in a Turkish locale
 *  "i".toUpperCase() is a dotted capital I, which would turn into "_". */
String registryKey(String registry) {
    return registry.toUpperCase(Locale.ROOT).replaceAll('[^A-Z0-9]', '_')
}

/** POSIX shell quoting, the same rule as Python's shlex.quote. */
String shellQuote(String word) {
    if (word == '') {
        return "''"
    }
    if (word ==~ /[A-Za-z0-9_@%+=:,.\/-]+/) {
        return word
    }
    return "'" + word.replace("'", "'\"'\"'") + "'"
}

String shellJoin(List argv) {
    List quoted = []
    for (word in argv) {
        quoted << shellQuote(word.toString())
    }
    return quoted.join(' ')
}

/** A list-valued argument: a List, or a single value for convenience. */
List words(def value, String name) {
    if (value == null) {
        return []
    }
    if (value instanceof Collection) {
        List out = []
        for (item in value) {
            if (item == null) {
                error("autopack: ${name} holds a null entry")
            }
            out << item.toString()
        }
        return out
    }
    if (value instanceof Map) {
        error("autopack: ${name} must be a list")
    }
    return [value.toString()]
}

String text(def value) {
    return value == null ? null : value.toString()
}

/** autopack's own "message - hint" from the result file, else a pointer to the console. */
String failureText(Map result, String resultFile) {
    def err = result.error
    if (err instanceof Map && err.message) {
        String hint = err.hint ? ' \u2014 ' + err.hint.toString() : ''
        return err.message.toString() + hint
    }
    return "no error in ${resultFile}; autopack's last console lines say why"
}
