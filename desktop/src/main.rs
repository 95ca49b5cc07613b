fn main() {
    burrow_desktop::run()
}
