// The plugin package ships the repository's templates/ folder, which sits at
// the top of the repository where readers look for it. `npm pack` runs this
// before packing (a copy into plugin/templates/) and with --remove after.
import { cpSync, rmSync } from "node:fs";

const here = new URL("./templates", import.meta.url);
rmSync(here, { recursive: true, force: true });
if (process.argv[2] !== "--remove") {
  cpSync(new URL("../templates", import.meta.url), here, { recursive: true });
}
