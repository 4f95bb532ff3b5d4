//! Geofences: countries, circles and polygons.
//!
//! At the edges, the stricter reading for a geofence that lets devices in:
//! a position that is not a real one (a latitude outside -90..=90, a
//! longitude outside -180..=180, NaN or infinite) lies in no circle and no
//! polygon, and neither does a point on a polygon's boundary.

use crate::{Device, GeoPoint};

const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// True when the device's country is one of `countries` (ISO 3166-1
/// alpha-2), compared without regard to ASCII case: `"de"` in the list
/// matches a device in `DE` (the host sends upper case). An empty country
/// matches nothing, not even an empty entry.
pub fn in_countries(device: &Device, countries: &[&str]) -> bool {
    let country = device.location.country;
    !country.is_empty() && countries.iter().any(|c| c.eq_ignore_ascii_case(country))
}

/// True when `p` is a position on Earth: latitude in -90..=90 and longitude
/// in -180..=180 (NaN is in neither).
pub fn is_valid(p: &GeoPoint) -> bool {
    (-90.0..=90.0).contains(&p.lat) && (-180.0..=180.0).contains(&p.lon)
}

/// Great-circle distance in metres (haversine); NaN when either point is
/// not a valid position ([`is_valid`]).
pub fn distance_m(a: &GeoPoint, b: &GeoPoint) -> f64 {
    if !is_valid(a) || !is_valid(b) {
        return f64::NAN;
    }
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// True when the device has a valid position ([`is_valid`]) within
/// `radius_m` of `center`: distance `<= radius_m`, so a radius of 0 holds
/// the centre alone. A device without a valid position, a centre that is
/// not one, and a negative or NaN radius match nothing; an infinite radius
/// holds every valid position.
pub fn within_radius(device: &Device, center: &GeoPoint, radius_m: f64) -> bool {
    device.location.geo.as_ref().is_some_and(|p| distance_m(p, center) <= radius_m)
}

/// `b - a` in degrees of longitude the short way round, in -180..180
/// (for longitudes in -180..=180; an edge of exactly 180° comes out -180).
#[inline]
fn lon_step(a: f64, b: f64) -> f64 {
    let d = b - a;
    if d >= 180.0 {
        d - 360.0
    } else if d < -180.0 {
        d + 360.0
    } else {
        d
    }
}

/// True when `p` lies strictly inside `polygon`.
///
/// The vertices are in order, either way round; each edge is a straight
/// line in latitude/longitude (not a great circle) and goes the short way
/// round in longitude, so a polygon may cross the antimeridian (Fiji: lon
/// 177 to -178). A ring that goes once round a pole (its edges add up to
/// ±360° of longitude, e.g. the parallel at 66.6°N) encloses that pole's
/// cap: of the two parts of the globe it separates, the smaller one (for a
/// ring that halves the globe, such as the equator, the northern one).
///
/// Nothing lies inside, fail-closed:
/// - a point on the boundary (an edge or a vertex), exactly;
/// - `p` or any vertex not a valid position ([`is_valid`]);
/// - a polygon of fewer than 3 vertices, or one with an edge of exactly
///   180° of longitude (which way round is ambiguous);
/// - a degenerate polygon with no area (all its points are on its boundary).
pub fn point_in_polygon(p: &GeoPoint, polygon: &[GeoPoint]) -> bool {
    if polygon.len() < 3 || !is_valid(p) || !polygon.iter().all(is_valid) {
        return false;
    }
    // A point at a pole is the whole line lat = ±90: on the boundary if
    // any vertex is there.
    if p.lat.abs() == 90.0 && polygon.iter().any(|v| v.lat == p.lat) {
        return false;
    }
    // Longitudes relative to `p` (so `p` is at x = 0), each edge taken the
    // short way from its first vertex; the ray goes north from `p` along
    // x = 0 (edges never reach x = ±360: they span less than 180°).
    let mut crossings = false;
    // Longitude the ring turns in all (0 or ±360), and twice the integral
    // of sin(latitude) along it (for which cap is smaller).
    let (mut turn, mut sin_integral) = (0.0, 0.0);
    let n = polygon.len();
    for i in 0..n {
        let (a, b) = (&polygon[i], &polygon[(i + 1) % n]);
        let step = lon_step(a.lon, b.lon);
        if step == -180.0 {
            return false;
        }
        turn += step;
        let (la, lb) = (a.lat.to_radians(), b.lat.to_radians());
        let mean_sin =
            if (lb - la).abs() < 1e-12 { ((la + lb) / 2.0).sin() } else { (la.cos() - lb.cos()) / (lb - la) };
        sin_integral += step * mean_sin;
        let xa = lon_step(p.lon, a.lon);
        // The end the same way as the next edge's start sees it (unless it
        // lies half the globe away, where x = 0 is not in question).
        let mut xb = lon_step(p.lon, b.lon);
        if xb - (xa + step) > 180.0 {
            xb -= 360.0;
        } else if (xa + step) - xb > 180.0 {
            xb += 360.0;
        }
        let (ya, yb) = (a.lat, b.lat);
        // On the edge: collinear and within its bounds.
        let cross = (xb - xa) * (p.lat - ya) - (yb - ya) * (0.0 - xa);
        if cross == 0.0 && xa.min(xb) <= 0.0 && 0.0 <= xa.max(xb) && ya.min(yb) <= p.lat && p.lat <= ya.max(yb) {
            return false;
        }
        if (xa < 0.0) != (xb < 0.0) {
            let y = ya + (0.0 - xa) * (yb - ya) / (xb - xa);
            if y > p.lat {
                crossings = !crossings;
            }
        }
    }
    if f64::abs(turn) > 180.0 {
        // Round a pole: the ray north ends at the north pole, inside when
        // the northern cap is the smaller one.
        let north_inside = sin_integral * turn >= 0.0;
        crossings != north_inside
    } else {
        crossings
    }
}

/// True when the device has a position inside `polygon` (see
/// [`point_in_polygon`]).
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

#[cfg(test)]
mod edge_tests {
    use super::*;
    use proptest::prelude::*;

    fn pt(lat: f64, lon: f64) -> GeoPoint {
        GeoPoint { lat, lon }
    }

    fn at(lat: f64, lon: f64) -> Device<'static> {
        let mut d = crate::testing::device();
        d.location.geo = Some(pt(lat, lon));
        d
    }

    /// `lon` moved east by `by` degrees, back into -180..180 (and -180 as
    /// 180 when `east` says so: the same meridian).
    fn rotate(lon: i64, by: i64, east: bool) -> f64 {
        let l = (lon + by + 180).rem_euclid(360) - 180;
        if l == -180 && east { 180.0 } else { l as f64 }
    }

    /// Twice the signed area of (a, b, c), exact in integers.
    fn cross(a: (i64, i64), b: (i64, i64), c: (i64, i64)) -> i64 {
        (b.0 - a.0) * (c.1 - a.1) - (b.1 - a.1) * (c.0 - a.0)
    }

    /// Strictly inside triangle `t` (points as (lon, lat) in a plane), by
    /// the three half-planes; a flat triangle has no inside.
    fn oracle_in_triangle(t: [(i64, i64); 3], p: (i64, i64)) -> bool {
        let orient = cross(t[0], t[1], t[2]).signum();
        orient != 0 && (0..3).all(|i| cross(t[i], t[(i + 1) % 3], p).signum() == orient)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// A triangle and a point drawn in a local frame (where half-planes
        /// answer), then moved anywhere round the globe in longitude, the
        /// antimeridian included; listed either way round, from any vertex,
        /// with a vertex repeated or not.
        #[test]
        fn triangles_anywhere_match_half_planes(
            t in [(-85i64..=85, -85i64..=85), (-85i64..=85, -85i64..=85), (-85i64..=85, -85i64..=85)],
            p in (-90i64..=90, -89i64..=89),
            by in -180i64..180,
            east in any::<bool>(),
            reverse in any::<bool>(),
            first in 0usize..3,
            repeat in proptest::option::of(0usize..3),
        ) {
            let expected = oracle_in_triangle(t, p);
            let mut polygon: Vec<GeoPoint> =
                (0..3).map(|i| t[(first + i) % 3]).map(|(lon, lat)| pt(lat as f64, rotate(lon, by, east))).collect();
            if reverse {
                polygon.reverse();
            }
            if let Some(i) = repeat {
                polygon.insert(i, polygon[i]);
            }
            let q = pt(p.1 as f64, rotate(p.0, by, !east));
            prop_assert_eq!(point_in_polygon(&q, &polygon), expected, "{:?} in {:?}", q, polygon);
            prop_assert_eq!(within_polygon(&at(q.lat, q.lon), &polygon), expected);
        }

        /// Any polygon (self-crossing ones too) gives the same answers
        /// wherever it is moved in longitude.
        #[test]
        fn polygons_answer_the_same_anywhere_in_longitude(
            ring in prop::collection::vec((-85i64..=85, -89i64..=89), 3..9),
            p in (-89i64..=89, -89i64..=89),
            by in -180i64..180,
        ) {
            let place = |by: i64| -> Vec<GeoPoint> {
                ring.iter().map(|&(lon, lat)| pt(lat as f64, rotate(lon, by, true))).collect()
            };
            let here = point_in_polygon(&pt(p.1 as f64, p.0 as f64), &place(0));
            prop_assert_eq!(point_in_polygon(&pt(p.1 as f64, rotate(p.0, by, false)), &place(by)), here);
            let mut reversed = place(by);
            reversed.reverse();
            prop_assert_eq!(point_in_polygon(&pt(p.1 as f64, rotate(p.0, by, true)), &reversed), here);
        }

        /// A ring along a parallel, once round the globe either way: the
        /// cap beyond it (the smaller part; the north for the equator).
        #[test]
        fn a_ring_round_a_pole_encloses_its_cap(
            lat in -89i64..=89,
            k in prop::sample::select(vec![3i64, 4, 5, 6, 8, 9, 10, 12, 24]),
            start in -180i64..180,
            westward in any::<bool>(),
            p in (-180i64..=180, -90i64..=90),
        ) {
            let step = if westward { -360 / k } else { 360 / k };
            let ring: Vec<GeoPoint> = (0..k).map(|i| pt(lat as f64, rotate(start, i * step, true))).collect();
            let expected = if lat >= 0 { p.1 > lat } else { p.1 < lat };
            prop_assert_eq!(point_in_polygon(&pt(p.1 as f64, p.0 as f64), &ring), expected, "{:?}", ring);
        }
    }

    #[test]
    fn a_polygon_across_the_antimeridian() {
        // Round Fiji: lon 176 to -178.
        let fiji = [pt(-21.0, 176.0), pt(-21.0, -178.0), pt(-12.0, -178.0), pt(-12.0, 176.0)];
        assert!(point_in_polygon(&pt(-17.7, 178.4), &fiji), "Suva");
        assert!(point_in_polygon(&pt(-16.0, -179.9), &fiji));
        assert!(point_in_polygon(&pt(-16.0, 180.0), &fiji));
        assert!(point_in_polygon(&pt(-16.0, -180.0), &fiji));
        assert!(!point_in_polygon(&pt(-16.0, 0.0), &fiji), "the other side of the globe");
        assert!(!point_in_polygon(&pt(-16.0, 175.0), &fiji));
        assert!(!point_in_polygon(&pt(-16.0, -177.0), &fiji));
    }

    #[test]
    fn rings_round_the_poles() {
        // The Arctic circle, drawn eastward or westward.
        let arctic: Vec<GeoPoint> = (0..8).map(|i| pt(66.5, -180.0 + 45.0 * f64::from(i))).collect();
        let mut reversed = arctic.clone();
        reversed.reverse();
        for ring in [&arctic, &reversed] {
            assert!(point_in_polygon(&pt(78.2, 15.6), ring), "Svalbard");
            assert!(point_in_polygon(&pt(90.0, 0.0), ring), "the pole");
            assert!(!point_in_polygon(&pt(52.5, 13.4), ring), "Berlin");
            assert!(!point_in_polygon(&pt(-90.0, 0.0), ring));
        }
        // Antarctica: south of 60°S.
        let antarctic: Vec<GeoPoint> = (0..6).map(|i| pt(-60.0, 60.0 * f64::from(i) - 170.0)).collect();
        assert!(point_in_polygon(&pt(-77.8, 166.7), &antarctic), "McMurdo");
        assert!(!point_in_polygon(&pt(-33.9, 18.4), &antarctic), "Cape Town");
        // A polygon with a vertex at the pole: the pole is on its boundary.
        let wedge = [pt(80.0, 0.0), pt(90.0, 0.0), pt(80.0, 90.0)];
        assert!(!point_in_polygon(&pt(90.0, 45.0), &wedge));
        assert!(point_in_polygon(&pt(85.0, 30.0), &wedge));
    }

    #[test]
    fn the_boundary_is_outside() {
        let square = [pt(0.0, 0.0), pt(0.0, 10.0), pt(10.0, 10.0), pt(10.0, 0.0)];
        for p in [pt(0.0, 5.0), pt(10.0, 5.0), pt(5.0, 0.0), pt(5.0, 10.0), pt(0.0, 0.0), pt(10.0, 10.0), pt(0.0, 10.0)]
        {
            assert!(!point_in_polygon(&p, &square), "{p:?}");
        }
        assert!(point_in_polygon(&pt(1e-9, 5.0), &square));
        // The reference geofence's southern edge.
        let europe = [pt(35.0, -10.0), pt(35.0, 30.0), pt(71.5, 30.0), pt(71.5, -10.0)];
        assert!(!point_in_polygon(&pt(35.0, 14.5), &europe));
        assert!(!point_in_polygon(&pt(50.0, -10.0), &europe));
        assert!(point_in_polygon(&pt(50.0, 10.0), &europe));
    }

    #[test]
    fn degenerate_polygons_hold_nothing() {
        let p = pt(1.0, 1.0);
        assert!(!point_in_polygon(&p, &[]));
        assert!(!point_in_polygon(&p, &[pt(0.0, 0.0)]));
        assert!(!point_in_polygon(&p, &[pt(0.0, 0.0), pt(2.0, 2.0)]));
        assert!(!point_in_polygon(&p, &[pt(0.0, 0.0), pt(2.0, 2.0), pt(0.0, 0.0)]));
        assert!(!point_in_polygon(&p, &[pt(0.0, 0.0), pt(1.0, 1.0), pt(2.0, 2.0)]), "collinear");
        assert!(!point_in_polygon(&p, &[pt(1.0, 1.0); 5]));
        // An edge of exactly 180° of longitude: which way round is unknown.
        assert!(!point_in_polygon(&pt(5.0, 90.0), &[pt(0.0, 0.0), pt(0.0, 180.0), pt(10.0, 90.0)]));
        assert!(!point_in_polygon(&pt(5.0, -90.0), &[pt(0.0, 0.0), pt(0.0, 180.0), pt(10.0, 90.0)]));
    }

    #[test]
    fn positions_that_are_not_positions_are_in_no_fence() {
        let square = [pt(-10.0, -10.0), pt(-10.0, 10.0), pt(10.0, 10.0), pt(10.0, -10.0)];
        let inside = pt(0.0, 0.0);
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 90.5, -91.0] {
            assert!(!point_in_polygon(&pt(bad, 0.0), &square), "lat {bad}");
            assert!(!within_radius(&at(bad, 0.0), &inside, f64::INFINITY), "lat {bad}");
            assert!(!within_polygon(&at(bad, 0.0), &square));
        }
        for bad in [f64::NAN, f64::INFINITY, 180.5, -360.0] {
            assert!(!point_in_polygon(&pt(0.0, bad), &square), "lon {bad}");
            assert!(!within_radius(&at(0.0, bad), &inside, f64::INFINITY), "lon {bad}");
        }
        // A polygon or centre with such a vertex holds nothing.
        let mut broken = square;
        broken[2] = pt(f64::NAN, 10.0);
        assert!(!point_in_polygon(&inside, &broken));
        assert!(!within_radius(&at(0.0, 0.0), &pt(0.0, 200.0), f64::INFINITY));
        assert!(distance_m(&inside, &pt(f64::NAN, 0.0)).is_nan());
        // No position: in no fence.
        assert!(!within_radius(&crate::testing::device(), &inside, f64::INFINITY));
        assert!(!within_polygon(&crate::testing::device(), &square));
    }

    #[test]
    fn radii_at_the_edges() {
        let berlin = pt(52.52, 13.405);
        let d = at(52.52, 13.405);
        assert!(within_radius(&d, &berlin, 0.0), "the centre itself");
        assert!(!within_radius(&at(52.5201, 13.405), &berlin, 0.0));
        assert!(!within_radius(&d, &berlin, -1.0));
        assert!(!within_radius(&d, &berlin, f64::NAN));
        assert!(within_radius(&at(-52.52, -166.595), &berlin, f64::INFINITY), "the antipode");
        // Across the antimeridian: 0.2° of longitude at the equator.
        let d = distance_m(&pt(0.0, 179.9), &pt(0.0, -179.9));
        assert!((22_000.0..22_500.0).contains(&d), "{d}");
        // Antipodes: half the circumference.
        let d = distance_m(&pt(0.0, 0.0), &pt(0.0, 180.0));
        assert!((d - EARTH_RADIUS_M * core::f64::consts::PI).abs() < 1.0, "{d}");
    }

    #[test]
    fn countries_ignore_ascii_case_and_empty_matches_nothing() {
        let mut d = crate::testing::device();
        assert!(in_countries(&d, &["de"]));
        assert!(in_countries(&d, &["FR", "DE"]));
        assert!(!in_countries(&d, &[]));
        assert!(!in_countries(&d, &["DEU", "D", ""]));
        d.location.country = "";
        assert!(!in_countries(&d, &[""]));
        assert!(!in_countries(&d, &["DE", ""]));
    }
}
