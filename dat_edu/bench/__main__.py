from dat_edu.bench.cli import main

main()
