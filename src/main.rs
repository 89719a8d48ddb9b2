fn main() -> std::process::ExitCode {
    mqtt_doctor::cli::main()
}
