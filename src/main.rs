fn main() -> std::process::ExitCode {
    // Busybox style: one static binary is also the kubectl plugin, chosen by the name it runs as.
    if std::env::args_os()
        .next()
        .is_some_and(|argv0| mqtt_doctor::plugin::invoked_as_plugin(&argv0))
    {
        return mqtt_doctor::plugin::main();
    }
    mqtt_doctor::cli::main()
}
