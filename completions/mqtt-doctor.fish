# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_mqtt_doctor_global_optspecs
    string join \n color= h/help V/version
end

function __fish_mqtt_doctor_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_mqtt_doctor_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_mqtt_doctor_using_subcommand
    set -l cmd (__fish_mqtt_doctor_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c mqtt-doctor -n "__fish_mqtt_doctor_needs_command" -l color -d 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mqtt-doctor -n "__fish_mqtt_doctor_needs_command" -s h -l help -d 'Print help'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_needs_command" -s V -l version -d 'Print version'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_needs_command" -f -a "doctor" -d 'Diagnose the connection to a broker, stage by stage (DNS, TCP, proxy, TLS, WebSocket, credentials, MQTT)'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_needs_command" -f -a "watch" -d 'Run the doctor again and again, for failures that come and go: a line per run, then a summary (success ratios, latency percentiles, root causes, flaps)'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_needs_command" -f -a "explain" -d 'Explain a finding id (`explain tcp.refused`) or a CONNACK code (`explain 134`), offline'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_needs_command" -f -a "token" -d 'Work with tokens (JWTs, Kubernetes ServiceAccount tokens) offline'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_needs_command" -f -a "presets" -d 'List the presets (--preset NAME) and the defaults each one sets'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_needs_command" -f -a "schema" -d 'Print the JSON Schema (2020-12) of the JSON reports: doctor\'s, several targets\', token inspect\'s (also in docs/report.schema.json)'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_needs_command" -f -a "serve" -d 'Serve Prometheus metrics: each scrape of /probe?target=URL&module=NAME runs one doctor check, with a config file\'s profiles as the modules'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_needs_command" -f -a "man" -d 'Print a man page (roff): the top page, or a command\'s (`man doctor`, `man token-inspect`)'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l preset -d 'Defaults for a broker family: mosquitto, emqx, aio, hivemq, rabbitmq, vernemq, nanomq, ejabberd, aedes, amqtt (`mqtt-doctor presets` shows them); any option overrides them' -r -f -a "mosquitto\t''
emqx\t''
aio\t'Azure IoT Operations\' MQTT broker'
hivemq\t''
rabbitmq\t'RabbitMQ with its MQTT plugin'
vernemq\t''
nanomq\t''
ejabberd\t''
aedes\t''
amqtt\t'amqtt, the successor of HBMQTT'"
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l config -d 'Config file with settings and named profiles [default: ./mqtt-doctor.toml when present]' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l profile -d 'The profile of the config file to use ([profiles.NAME])' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -s t -l timeout -d 'Time allowed for each network step (DNS query, TCP connect, ...), e.g. 500ms, 2s' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l deadline -d 'Time allowed for the whole run; no step outlives it' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l dns-server -d 'Ask this DNS server (ADDR or ADDR:PORT) instead of the ones in /etc/resolv.conf' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l nodes -d 'Check up to N of the addresses the target\'s name resolves to, each over its own connection (TCP, TLS, MQTT, topics), and compare them; 1 checks one address, as a client does' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -s f -l format -d 'Output format' -r -f -a "text\t'A readable report'
json\t'The documented JSON report (docs/json-schema.md)'
junit\t'JUnit XML, one testcase per stage, for CI test-report views'
markdown\t'GitHub-flavoured Markdown: a job summary, a merge-request or pull-request comment'"
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l output -d 'Also write the report of this same run to FILE, in FORMAT (text, json, junit); repeatable, e.g. --output junit=report.xml --output json=report.json. Text in a file has no colours' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l annotations -d 'GitHub Actions annotations (::error::/::warning:: lines on stderr); `auto` writes them when GITHUB_ACTIONS=true' -r -f -a "auto\t'When GITHUB_ACTIONS=true'
always\t''
never\t''"
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l root -d 'Read every well-known file below this directory: etc/resolv.conf, etc/hosts, the ServiceAccount files, the preset\'s token and CA. E.g. a copy of a pod\'s filesystem, or /proc/1/root from `kubectl debug --target`; the system resolver is then not consulted' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l k8s-resources -d 'Azure IoT Operations\' resources to check the client against before connecting: what `kubectl get brokers,brokerlisteners,brokerauthentications,brokerauthorizations,services -A -o json` (or -o yaml) prints, or - to read it from standard input. The host must be a listener\'s Service, the port one of its ports with the scheme\'s TLS mode, the token\'s audience one its BrokerAuthentication accepts, the client id and --publish/--subscribe topics allowed by its BrokerAuthorization' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l k8s-namespace -d 'The namespace --k8s-api lists the resources in: where the broker runs' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l cafile -d 'CA certificates (PEM bundle) to trust instead of the system roots' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l capath -d 'Directory of CA certificates (PEM files) to trust instead of the system roots' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l servername -d 'Name to send as SNI and to check the certificate against (default: the target host)' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l alpn -d 'ALPN protocols to offer, comma-separated or repeated (e.g. mqtt)' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l cert -d 'Client certificate (PEM, leaf first) for mutual TLS; needs --key' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l key -d 'Private key (PEM) of the client certificate; needs --cert' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l expiry-warning -d 'Warn when the broker\'s certificate expires within this time' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l save-chain -d 'Write the certificate chain the broker presents to FILE as PEM, leaf first, trusted or not (what `openssl s_client -showcerts` is used for); with several nodes, one file per node, its address in the name' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -s u -l username -d 'Username to send in CONNECT' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -s P -l password -d 'Password to send; a password that is a JWT (EMQX) is checked as a token. Prefer MQTT_DOCTOR_PASSWORD or --password-file: arguments show in `ps`' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l password-file -d 'File holding the password (one line)' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l token -d 'Token (a JWT such as a Kubernetes ServiceAccount token), or - to read it from stdin' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l token-file -d 'File holding the token, e.g. /var/run/secrets/tokens/broker-sat' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l audience -d 'Audience the broker expects in the token\'s aud claim (Azure IoT Operations: aio-internal)' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l issuer -d 'Issuer the broker expects in the token\'s iss claim' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l jwt-secret -d 'HMAC secret to check an HS256/HS384/HS512 signature with' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l jwt-key -d 'PEM public key or certificate to check an RS*/PS*/ES*/EdDSA signature with' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l jwks -d 'JWKS file to check the signature with (the key is picked by kid)' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l token-expiry-warning -d 'Warn when the token expires within this time' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l mqtt-version -d 'MQTT version: 5, 3.1.1, or auto (5, then 3.1.1 if the broker only speaks that, or stays silent on MQTT 5)' -r -f -a "auto\t'MQTT 5, and MQTT 3.1.1 again if the broker only speaks that'
3.1.1\t'MQTT 3.1.1 only'
5\t'MQTT 5 only'"
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -s i -l client-id -d 'Client id to connect with (default: a random mqtt-doctor-… id). A device connected with the same id is disconnected by the broker' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l keepalive -d 'Keepalive to announce, in seconds. During --hold the doctor sends a PINGREQ whenever this long passes without it sending anything, as a client does' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l auth-method -d 'MQTT 5 enhanced authentication method (e.g. K8S-SAT); the token is sent as its data' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l broker -d 'The broker\'s family, for causes and fixes in its own terms: mosquitto, emqx, aio, hivemq, rabbitmq, vernemq, nanomq, ejabberd, aedes, amqtt (default: recognised from what the broker shows, with the confidence the report states)' -r -f -a "mosquitto\t''
emqx\t''
aio\t'Azure IoT Operations\' MQTT broker'
hivemq\t''
rabbitmq\t'RabbitMQ with its MQTT plugin'
vernemq\t''
nanomq\t''
ejabberd\t''
aedes\t''
amqtt\t'amqtt, the successor of HBMQTT'"
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l publish -d 'After connecting, publish at QoS 1 to TOPIC and check the broker allows it (repeatable)' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l subscribe -d 'After connecting, subscribe to FILTER and check the broker allows it (repeatable); with --publish, a message must come back through a matching subscription' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l hold -d 'Keep the connection this long after CONNACK and report whether the broker drops it (default: one PINGREQ round trip). A PINGREQ goes out whenever the keepalive passes without the doctor sending anything, so a hold longer than a load balancer\'s idle timeout, with --keepalive below it, checks that the keepalive keeps connections alive' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l proxy -d 'Tunnel through this proxy: http://[USER:PASS@]HOST:PORT (HTTP CONNECT), socks5://… or socks5h://… (the proxy resolves the broker\'s name) [default: https_proxy, HTTPS_PROXY, all_proxy or ALL_PROXY, unless NO_PROXY lists the broker or it is on this machine]' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l ws-path -d 'HTTP path of the WebSocket endpoint, for ws:// and wss:// targets that name none [default: /mqtt]' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l ws-header -d 'Extra header for the WebSocket upgrade, as \'Name: value\' (repeatable). Values are never shown, only their length and fingerprint' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l color -d 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l cluster -d 'The targets are the nodes of one cluster (e.g. each node\'s own address behind a load balancer): check each, then compare their failures, certificates and capabilities'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l strict -d 'Treat warnings as failures (exit code 1)'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -s v -l verbose -d 'Show passing findings with their evidence too'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -s q -l quiet -d 'Print only failures (text format): nothing at all when the broker is healthy'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l k8s-api -d 'In a pod: fetch those resources from the Kubernetes API server itself, with the pod\'s ServiceAccount token and CA (at most five list requests, in --k8s-namespace), and check the client against them as --k8s-resources does. The ServiceAccount needs a Role with get and list on brokers, brokerlisteners, brokerauthentications, brokerauthorizations (mqttbroker.iot.azure.com) and services (see docs/guide/pod.md)'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l tls -d 'Use TLS even though the target\'s scheme is plain (mqtt://, tcp://)'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l insecure -d 'Do not verify the broker\'s certificate (reported as a warning, never silently)'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l jwt-secret-base64 -d 'The --jwt-secret is base64-encoded (EMQX\'s secret_base64_encoded)'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -l no-proxy -d 'Connect directly, ignoring the proxy environment variables'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l preset -d 'Defaults for a broker family: mosquitto, emqx, aio, hivemq, rabbitmq, vernemq, nanomq, ejabberd, aedes, amqtt (`mqtt-doctor presets` shows them); any option overrides them' -r -f -a "mosquitto\t''
emqx\t''
aio\t'Azure IoT Operations\' MQTT broker'
hivemq\t''
rabbitmq\t'RabbitMQ with its MQTT plugin'
vernemq\t''
nanomq\t''
ejabberd\t''
aedes\t''
amqtt\t'amqtt, the successor of HBMQTT'"
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l config -d 'Config file with settings and named profiles [default: ./mqtt-doctor.toml when present]' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l profile -d 'The profile of the config file to use ([profiles.NAME])' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -s t -l timeout -d 'Time allowed for each network step (DNS query, TCP connect, ...), e.g. 500ms, 2s' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l deadline -d 'Time allowed for the whole run; no step outlives it' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l dns-server -d 'Ask this DNS server (ADDR or ADDR:PORT) instead of the ones in /etc/resolv.conf' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l nodes -d 'Check up to N of the addresses the target\'s name resolves to, each over its own connection (TCP, TLS, MQTT, topics), and compare them; 1 checks one address, as a client does' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -s f -l format -d 'Output format' -r -f -a "text\t'A readable report'
json\t'The documented JSON report (docs/json-schema.md)'
junit\t'JUnit XML, one testcase per stage, for CI test-report views'
markdown\t'GitHub-flavoured Markdown: a job summary, a merge-request or pull-request comment'"
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l output -d 'Also write the report of this same run to FILE, in FORMAT (text, json, junit); repeatable, e.g. --output junit=report.xml --output json=report.json. Text in a file has no colours' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l annotations -d 'GitHub Actions annotations (::error::/::warning:: lines on stderr); `auto` writes them when GITHUB_ACTIONS=true' -r -f -a "auto\t'When GITHUB_ACTIONS=true'
always\t''
never\t''"
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l root -d 'Read every well-known file below this directory: etc/resolv.conf, etc/hosts, the ServiceAccount files, the preset\'s token and CA. E.g. a copy of a pod\'s filesystem, or /proc/1/root from `kubectl debug --target`; the system resolver is then not consulted' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l k8s-resources -d 'Azure IoT Operations\' resources to check the client against before connecting: what `kubectl get brokers,brokerlisteners,brokerauthentications,brokerauthorizations,services -A -o json` (or -o yaml) prints, or - to read it from standard input. The host must be a listener\'s Service, the port one of its ports with the scheme\'s TLS mode, the token\'s audience one its BrokerAuthentication accepts, the client id and --publish/--subscribe topics allowed by its BrokerAuthorization' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l k8s-namespace -d 'The namespace --k8s-api lists the resources in: where the broker runs' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l cafile -d 'CA certificates (PEM bundle) to trust instead of the system roots' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l capath -d 'Directory of CA certificates (PEM files) to trust instead of the system roots' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l servername -d 'Name to send as SNI and to check the certificate against (default: the target host)' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l alpn -d 'ALPN protocols to offer, comma-separated or repeated (e.g. mqtt)' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l cert -d 'Client certificate (PEM, leaf first) for mutual TLS; needs --key' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l key -d 'Private key (PEM) of the client certificate; needs --cert' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l expiry-warning -d 'Warn when the broker\'s certificate expires within this time' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l save-chain -d 'Write the certificate chain the broker presents to FILE as PEM, leaf first, trusted or not (what `openssl s_client -showcerts` is used for); with several nodes, one file per node, its address in the name' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -s u -l username -d 'Username to send in CONNECT' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -s P -l password -d 'Password to send; a password that is a JWT (EMQX) is checked as a token. Prefer MQTT_DOCTOR_PASSWORD or --password-file: arguments show in `ps`' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l password-file -d 'File holding the password (one line)' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l token -d 'Token (a JWT such as a Kubernetes ServiceAccount token), or - to read it from stdin' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l token-file -d 'File holding the token, e.g. /var/run/secrets/tokens/broker-sat' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l audience -d 'Audience the broker expects in the token\'s aud claim (Azure IoT Operations: aio-internal)' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l issuer -d 'Issuer the broker expects in the token\'s iss claim' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l jwt-secret -d 'HMAC secret to check an HS256/HS384/HS512 signature with' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l jwt-key -d 'PEM public key or certificate to check an RS*/PS*/ES*/EdDSA signature with' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l jwks -d 'JWKS file to check the signature with (the key is picked by kid)' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l token-expiry-warning -d 'Warn when the token expires within this time' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l mqtt-version -d 'MQTT version: 5, 3.1.1, or auto (5, then 3.1.1 if the broker only speaks that, or stays silent on MQTT 5)' -r -f -a "auto\t'MQTT 5, and MQTT 3.1.1 again if the broker only speaks that'
3.1.1\t'MQTT 3.1.1 only'
5\t'MQTT 5 only'"
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -s i -l client-id -d 'Client id to connect with (default: a random mqtt-doctor-… id). A device connected with the same id is disconnected by the broker' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l keepalive -d 'Keepalive to announce, in seconds. During --hold the doctor sends a PINGREQ whenever this long passes without it sending anything, as a client does' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l auth-method -d 'MQTT 5 enhanced authentication method (e.g. K8S-SAT); the token is sent as its data' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l broker -d 'The broker\'s family, for causes and fixes in its own terms: mosquitto, emqx, aio, hivemq, rabbitmq, vernemq, nanomq, ejabberd, aedes, amqtt (default: recognised from what the broker shows, with the confidence the report states)' -r -f -a "mosquitto\t''
emqx\t''
aio\t'Azure IoT Operations\' MQTT broker'
hivemq\t''
rabbitmq\t'RabbitMQ with its MQTT plugin'
vernemq\t''
nanomq\t''
ejabberd\t''
aedes\t''
amqtt\t'amqtt, the successor of HBMQTT'"
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l publish -d 'After connecting, publish at QoS 1 to TOPIC and check the broker allows it (repeatable)' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l subscribe -d 'After connecting, subscribe to FILTER and check the broker allows it (repeatable); with --publish, a message must come back through a matching subscription' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l hold -d 'Keep the connection this long after CONNACK and report whether the broker drops it (default: one PINGREQ round trip). A PINGREQ goes out whenever the keepalive passes without the doctor sending anything, so a hold longer than a load balancer\'s idle timeout, with --keepalive below it, checks that the keepalive keeps connections alive' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l proxy -d 'Tunnel through this proxy: http://[USER:PASS@]HOST:PORT (HTTP CONNECT), socks5://… or socks5h://… (the proxy resolves the broker\'s name) [default: https_proxy, HTTPS_PROXY, all_proxy or ALL_PROXY, unless NO_PROXY lists the broker or it is on this machine]' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l ws-path -d 'HTTP path of the WebSocket endpoint, for ws:// and wss:// targets that name none [default: /mqtt]' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l ws-header -d 'Extra header for the WebSocket upgrade, as \'Name: value\' (repeatable). Values are never shown, only their length and fingerprint' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l interval -d 'From the start of one run to the start of the next, e.g. 500ms, 5s, 1m; a run that takes longer is followed at once (runs never overlap). Zero is refused: back-to-back connections to a broker are a load test, not a watch' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l count -d 'Stop after N runs [default: until Ctrl-C]' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l color -d 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l cluster -d 'The targets are the nodes of one cluster (e.g. each node\'s own address behind a load balancer): check each, then compare their failures, certificates and capabilities'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l strict -d 'Treat warnings as failures (exit code 1)'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -s v -l verbose -d 'Show passing findings with their evidence too'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -s q -l quiet -d 'Print only failures (text format): nothing at all when the broker is healthy'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l k8s-api -d 'In a pod: fetch those resources from the Kubernetes API server itself, with the pod\'s ServiceAccount token and CA (at most five list requests, in --k8s-namespace), and check the client against them as --k8s-resources does. The ServiceAccount needs a Role with get and list on brokers, brokerlisteners, brokerauthentications, brokerauthorizations (mqttbroker.iot.azure.com) and services (see docs/guide/pod.md)'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l tls -d 'Use TLS even though the target\'s scheme is plain (mqtt://, tcp://)'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l insecure -d 'Do not verify the broker\'s certificate (reported as a warning, never silently)'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l jwt-secret-base64 -d 'The --jwt-secret is base64-encoded (EMQX\'s secret_base64_encoded)'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -l no-proxy -d 'Connect directly, ignoring the proxy environment variables'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand watch" -s V -l version -d 'Print version'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand explain" -l broker -d 'Rank a code\'s causes for this broker' -r -f -a "mosquitto\t''
emqx\t''
aio\t'Azure IoT Operations\' MQTT broker'
hivemq\t''
rabbitmq\t'RabbitMQ with its MQTT plugin'
vernemq\t''
nanomq\t''
ejabberd\t''
aedes\t''
amqtt\t'amqtt, the successor of HBMQTT'"
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand explain" -l color -d 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand explain" -l list -d 'List every finding id with its title'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand explain" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand explain" -s V -l version -d 'Print version'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand token; and not __fish_seen_subcommand_from inspect help" -l color -d 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand token; and not __fish_seen_subcommand_from inspect help" -s h -l help -d 'Print help'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand token; and not __fish_seen_subcommand_from inspect help" -s V -l version -d 'Print version'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand token; and not __fish_seen_subcommand_from inspect help" -f -a "inspect" -d 'Decode a token and check its claims (and signature, given a key), without any network'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand token; and not __fish_seen_subcommand_from inspect help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand token; and __fish_seen_subcommand_from inspect" -l token -d 'The token itself, when no FILE is given' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand token; and __fish_seen_subcommand_from inspect" -l audience -d 'Audience the broker expects in the token\'s aud claim (Azure IoT Operations: aio-internal)' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand token; and __fish_seen_subcommand_from inspect" -l issuer -d 'Issuer the broker expects in the token\'s iss claim' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand token; and __fish_seen_subcommand_from inspect" -l jwt-secret -d 'HMAC secret to check an HS256/HS384/HS512 signature with' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand token; and __fish_seen_subcommand_from inspect" -l jwt-key -d 'PEM public key or certificate to check an RS*/PS*/ES*/EdDSA signature with' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand token; and __fish_seen_subcommand_from inspect" -l jwks -d 'JWKS file to check the signature with (the key is picked by kid)' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand token; and __fish_seen_subcommand_from inspect" -l token-expiry-warning -d 'Warn when the token expires within this time' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand token; and __fish_seen_subcommand_from inspect" -s f -l format -d 'Output format' -r -f -a "text\t'A readable report'
json\t'The documented JSON report (docs/json-schema.md)'
junit\t'JUnit XML, one testcase per stage, for CI test-report views'
markdown\t'GitHub-flavoured Markdown: a job summary, a merge-request or pull-request comment'"
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand token; and __fish_seen_subcommand_from inspect" -l deadline -d 'Time allowed for the whole run: reading the token or a key from a file, a pipe or standard input gives up after it' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand token; and __fish_seen_subcommand_from inspect" -l color -d 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand token; and __fish_seen_subcommand_from inspect" -l jwt-secret-base64 -d 'The --jwt-secret is base64-encoded (EMQX\'s secret_base64_encoded)'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand token; and __fish_seen_subcommand_from inspect" -l strict -d 'Treat warnings as failures (exit code 1)'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand token; and __fish_seen_subcommand_from inspect" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand token; and __fish_seen_subcommand_from inspect" -s V -l version -d 'Print version'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "inspect" -d 'Decode a token and check its claims (and signature, given a key), without any network'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand presets" -l color -d 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand presets" -s h -l help -d 'Print help'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand presets" -s V -l version -d 'Print version'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand schema" -l color -d 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand schema" -s h -l help -d 'Print help'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand schema" -s V -l version -d 'Print version'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand serve" -l config -d 'Config file whose profiles ([profiles.NAME]) are the modules [default: ./mqtt-doctor.toml when present]' -r -F
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand serve" -l listen -d 'Address to listen on for HTTP' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand serve" -l timeout-offset -d 'Taken off Prometheus\' scrape timeout (X-Prometheus-Scrape-Timeout-Seconds) to give a probe\'s time limit, so that the answer arrives before Prometheus gives up' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand serve" -l max-concurrent -d 'Probes run at the same time; more wait for a turn within their time limit, then get HTTP 503' -r
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand serve" -l color -d 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand serve" -s h -l help -d 'Print help'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand serve" -s V -l version -d 'Print version'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand completions" -l color -d 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand completions" -s h -l help -d 'Print help'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand completions" -s V -l version -d 'Print version'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand man" -l color -d 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand man" -s h -l help -d 'Print help'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand man" -s V -l version -d 'Print version'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand help; and not __fish_seen_subcommand_from doctor watch explain token presets schema serve completions man help" -f -a "doctor" -d 'Diagnose the connection to a broker, stage by stage (DNS, TCP, proxy, TLS, WebSocket, credentials, MQTT)'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand help; and not __fish_seen_subcommand_from doctor watch explain token presets schema serve completions man help" -f -a "watch" -d 'Run the doctor again and again, for failures that come and go: a line per run, then a summary (success ratios, latency percentiles, root causes, flaps)'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand help; and not __fish_seen_subcommand_from doctor watch explain token presets schema serve completions man help" -f -a "explain" -d 'Explain a finding id (`explain tcp.refused`) or a CONNACK code (`explain 134`), offline'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand help; and not __fish_seen_subcommand_from doctor watch explain token presets schema serve completions man help" -f -a "token" -d 'Work with tokens (JWTs, Kubernetes ServiceAccount tokens) offline'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand help; and not __fish_seen_subcommand_from doctor watch explain token presets schema serve completions man help" -f -a "presets" -d 'List the presets (--preset NAME) and the defaults each one sets'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand help; and not __fish_seen_subcommand_from doctor watch explain token presets schema serve completions man help" -f -a "schema" -d 'Print the JSON Schema (2020-12) of the JSON reports: doctor\'s, several targets\', token inspect\'s (also in docs/report.schema.json)'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand help; and not __fish_seen_subcommand_from doctor watch explain token presets schema serve completions man help" -f -a "serve" -d 'Serve Prometheus metrics: each scrape of /probe?target=URL&module=NAME runs one doctor check, with a config file\'s profiles as the modules'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand help; and not __fish_seen_subcommand_from doctor watch explain token presets schema serve completions man help" -f -a "completions" -d 'Print a shell completion script'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand help; and not __fish_seen_subcommand_from doctor watch explain token presets schema serve completions man help" -f -a "man" -d 'Print a man page (roff): the top page, or a command\'s (`man doctor`, `man token-inspect`)'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand help; and not __fish_seen_subcommand_from doctor watch explain token presets schema serve completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mqtt-doctor -n "__fish_mqtt_doctor_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "inspect" -d 'Decode a token and check its claims (and signature, given a key), without any network'
