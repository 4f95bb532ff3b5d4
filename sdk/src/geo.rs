//! Geofences: countries, circles and polygons.

use crate::{Device, GeoPoint};

const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// True when the device's country is one of `countries` (ISO 3166-1 alpha-2).
pub fn in_countries(device: &Device, countries: &[&str]) -> bool {
    countries.iter().any(|c| c.eq_ignore_ascii_case(device.location.country))
}

/// Great-circle distance in metres (haversine).
pub fn distance_m(a: &GeoPoint, b: &GeoPoint) -> f64 {
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// True when the device has a position within `radius_m` of `center`.
/// A device without a position is outside every circle.
pub fn within_radius(device: &Device, center: &GeoPoint, radius_m: f64) -> bool {
    device.location.geo.as_ref().is_some_and(|p| distance_m(p, center) <= radius_m)
}

/// True when `p` lies inside `polygon` (vertices in order, lat/lon treated as
/// planar coordinates: fine for regions that do not span the antimeridian or
/// a pole). Points on an edge may fall either side.
pub fn point_in_polygon(p: &GeoPoint, polygon: &[GeoPoint]) -> bool {
    let mut inside = false;
    let n = polygon.len();
    for i in 0..n {
        let (a, b) = (&polygon[i], &polygon[(i + n - 1) % n]);
        if (a.lat > p.lat) != (b.lat > p.lat) {
            let lon_at = a.lon + (p.lat - a.lat) * (b.lon - a.lon) / (b.lat - a.lat);
            if p.lon < lon_at {
                inside = !inside;
            }
        }
    }
    inside
}

/// True when the device has a position inside `polygon`.
pub fn within_polygon(device: &Device, polygon: &[GeoPoint]) -> bool {
    device.location.geo.as_ref().is_some_and(|p| point_in_polygon(p, polygon))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(lat: f64, lon: f64) -> GeoPoint {
        GeoPoint { lat, lon }
    }

    #[test]
    fn distances_and_shapes() {
        // Berlin → Munich is about 504 km.
        let d = distance_m(&pt(52.52, 13.405), &pt(48.137, 11.575));
        assert!((500_000.0..510_000.0).contains(&d), "{d}");
        let square = [pt(0.0, 0.0), pt(0.0, 10.0), pt(10.0, 10.0), pt(10.0, 0.0)];
        assert!(point_in_polygon(&pt(5.0, 5.0), &square));
        assert!(!point_in_polygon(&pt(15.0, 5.0), &square));
        assert!(!point_in_polygon(&pt(5.0, -1.0), &square));
    }
}
