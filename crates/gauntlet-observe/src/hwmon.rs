//! Hardware monitors (`/sys/class/hwmon`): every temperature, fan and
//! power input the kernel's drivers expose, read in one pass. The
//! inventory's temperatures and the sensor sampler both read here.

use std::fs;
use std::path::Path;

use gauntlet_plan::SensorKind;

/// One reading of one input.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub kind: SensorKind,
    /// The monitor's `name` (`coretemp`, `k10temp`, `nvme`, ...), else
    /// its directory's name.
    pub chip: String,
    /// The input's `<kind><N>_label`, else `<kind><N>`.
    pub label: String,
    /// °C, rpm or W.
    pub value: f64,
}

impl Reading {
    /// `chip/label`: the subject its measurements are filed under.
    pub fn subject(&self) -> String {
        format!("{}/{}", self.chip, self.label)
    }
}

/// Every input under `dir` (`/sys/class/hwmon`), monitors in natural
/// order (`hwmon10` after `hwmon9`), inputs by number. An input that
/// fails to read (absent, asleep: EAGAIN, ENXIO) or does not parse is
/// left out; a missing `dir` reads as no sensors.
pub fn read_hwmon(dir: &Path) -> Vec<Reading> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut monitors: Vec<_> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    monitors.sort_by_key(|path| natural_key(path));
    let mut out = Vec::new();
    for monitor in monitors {
        let read = |file: &str| {
            fs::read_to_string(monitor.join(file))
                .ok()
                .map(|s| s.trim().to_owned())
        };
        let chip = read("name")
            .filter(|n| !n.is_empty())
            .or_else(|| monitor.file_name()?.to_str().map(str::to_owned))
            .unwrap_or_default();
        let Ok(files) = fs::read_dir(&monitor) else {
            continue;
        };
        let names: Vec<String> = files
            .filter_map(|f| f.ok()?.file_name().to_str().map(str::to_owned))
            .collect();
        for kind in SensorKind::ALL {
            let mut inputs: Vec<(u32, String)> = names
                .iter()
                .filter_map(|name| {
                    let rest = name.strip_prefix(kind.as_str())?;
                    let (n, what) = rest.split_once('_')?;
                    let wanted = match kind {
                        // Power drivers give an instant or an average.
                        SensorKind::Power => what == "input" || what == "average",
                        _ => what == "input",
                    };
                    Some((n.parse::<u32>().ok()?, name.clone())).filter(|_| wanted)
                })
                .collect();
            // One reading per input number: `power1_input` over `power1_average`.
            inputs.sort_by_key(|(n, file)| (*n, !file.ends_with("_input")));
            inputs.dedup_by_key(|(n, _)| *n);
            for (n, file) in inputs {
                let Some(raw) = read(&file).and_then(|v| v.parse::<f64>().ok()) else {
                    continue;
                };
                let value = match kind {
                    SensorKind::Temp => raw / 1000.0,
                    SensorKind::Fan => raw,
                    SensorKind::Power => raw / 1_000_000.0,
                };
                out.push(Reading {
                    kind,
                    chip: chip.clone(),
                    label: read(&format!("{}{n}_label", kind.as_str()))
                        .filter(|l| !l.is_empty())
                        .unwrap_or_else(|| format!("{}{n}", kind.as_str())),
                    value,
                });
            }
        }
    }
    out
}

/// `hwmon10` after `hwmon9`.
pub(crate) fn natural_key(path: &Path) -> (String, u64) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let digits = name.trim_start_matches(|c: char| !c.is_ascii_digit());
    let number = digits.parse().unwrap_or(u64::MAX);
    (name[..name.len() - digits.len()].to_owned(), number)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, file: &str, text: &str) {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join(file), text).unwrap();
    }

    #[test]
    fn reads_temperatures_fans_and_power_in_their_units() {
        let root = tempfile::tempdir().unwrap();
        let cpu = root.path().join("hwmon1");
        write(&cpu, "name", "coretemp\n");
        write(&cpu, "temp1_input", "48000\n");
        write(&cpu, "temp1_label", "Package id 0\n");
        write(&cpu, "temp2_input", "45500\n");
        write(&cpu, "temp2_crit", "100000\n");
        let board = root.path().join("hwmon10");
        write(&board, "name", "nct6775\n");
        write(&board, "fan1_input", "1200\n");
        write(&board, "power1_average", "12500000\n");
        write(&board, "power1_input", "13000000\n");
        // Asleep or gone: left out, not zero.
        write(&board, "temp3_input", "");
        let got = read_hwmon(root.path());
        let seen: Vec<(SensorKind, String, f64)> =
            got.iter().map(|r| (r.kind, r.subject(), r.value)).collect();
        assert_eq!(
            seen,
            [
                (SensorKind::Temp, "coretemp/Package id 0".to_owned(), 48.0),
                (SensorKind::Temp, "coretemp/temp2".to_owned(), 45.5),
                (SensorKind::Fan, "nct6775/fan1".to_owned(), 1200.0),
                (SensorKind::Power, "nct6775/power1".to_owned(), 13.0),
            ]
        );
    }

    #[test]
    fn hwmon_order_is_natural() {
        let mut paths = vec![
            Path::new("hwmon10"),
            Path::new("hwmon9"),
            Path::new("hwmon1"),
        ];
        paths.sort_by_key(|p| natural_key(p));
        assert_eq!(
            paths,
            [
                Path::new("hwmon1"),
                Path::new("hwmon9"),
                Path::new("hwmon10")
            ]
        );
    }

    #[test]
    fn no_hwmon_is_no_sensors() {
        assert!(read_hwmon(Path::new("/nonexistent/hwmon")).is_empty());
    }
}
